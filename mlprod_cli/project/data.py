"""A project's data, read by its model's input schema: the one reader of the project's rows.

The data file is `[tool.mlprod.data] path` (relative to the project) when the project
sets it; otherwise the CSV the manifest says the model was trained on (`data.file`),
then every other `data/*.csv`. Columns are picked by feature name from the header, so
the target column may be anywhere and extra columns are ignored. Each cell is typed as
the schema says; an empty cell is `None` for a nullable feature and makes the row
unusable otherwise, as does a value outside `allowed` or a number that is not finite.
A file the standard library cannot read (Parquet, say) is not guessed at: the caller
gets the schema's example instance, and the reason.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlprod_cli.project.config import Project
from mlprod_cli.project.schema import Feature, InputSchema, Value

DATA_DIR = "data"
READABLE_SUFFIXES = (".csv",)
EXAMPLE_SOURCE = "the manifest's example"

Row = dict[str, Value]


class Unusable(Exception):
    """A data file that gives no row; the message says why, for the fallback's note."""


@dataclass(frozen=True)
class Sample:
    """Typed instances (feature name -> value, in the schema's order) and their origin."""

    rows: list[Row]
    path: Path | None
    """The data file they came from; None when they are the schema's example."""
    reason: str = ""
    """Why the example was used, when it was."""

    def source(self, root: Path | None = None) -> str:
        """Where the rows came from: the file (relative to `root` when given) or the example."""
        if self.path is None:
            return EXAMPLE_SOURCE
        if root is not None and self.path.is_relative_to(root):
            return str(self.path.relative_to(root))
        return str(self.path)


def data_files(project: Project, manifest: Mapping[str, Any]) -> list[Path]:
    """The files to read rows from, in order: the configured one, or the CSVs in `data/`."""
    configured = project.data_path
    if configured is not None:
        return [configured]
    data_dir = project.root / DATA_DIR
    trained = manifest.get("data")
    name = trained.get("file") if isinstance(trained, Mapping) else None
    first = [data_dir / Path(name).name] if isinstance(name, str) and name else []
    others = sorted(path for path in data_dir.glob("*.csv") if path not in first)
    return first + others


def sample(
    project: Project | None, schema: InputSchema, manifest: Mapping[str, Any], limit: int | None
) -> Sample:
    """Up to `limit` rows from the first data file that gives any; else the example."""
    if project is None:
        return _example(schema, "no project folder to find the data in")
    reasons = []
    for path in data_files(project, manifest):
        try:
            return Sample(rows=read_rows(path, schema.features, limit), path=path)
        except Unusable as error:
            reasons.append(str(error))
    return _example(schema, reasons[0] if reasons else f"no data file in {project.root / DATA_DIR}")


def read_rows(path: Path, features: Sequence[Feature], limit: int | None = None) -> list[Row]:
    """The rows of the CSV at `path` that fit the schema, typed; `Unusable` when none do."""
    if path.suffix.lower() not in READABLE_SUFFIXES:
        if not path.is_file():
            raise Unusable(f"{path} not found")
        raise Unusable(
            f"{path} is not CSV, and mlprod reads data with Python's standard library only"
        )
    try:
        with path.open(newline="", encoding="utf-8") as file:
            reader = csv.reader(file)
            header = [name.strip() for name in next(reader, [])]
            missing = [feature.name for feature in features if feature.name not in header]
            if missing:
                raise Unusable(f"{path} has no column {missing[0]!r}")
            columns = [header.index(feature.name) for feature in features]
            rows = []
            for record in reader:
                row = typed_row(record, columns, features)
                if row is not None:
                    rows.append(row)
                    if len(rows) == limit:
                        break
    except FileNotFoundError:
        raise Unusable(f"{path} not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise Unusable(f"{path} is unreadable: {error}") from None
    if not rows:
        raise Unusable(f"{path} has no row that fits the schema")
    return rows


def typed_row(
    record: Sequence[str], columns: Sequence[int], features: Sequence[Feature]
) -> Row | None:
    """The record's features as the schema types them; None when one does not fit."""
    if len(record) <= max(columns):
        return None
    row: Row = {}
    for column, feature in zip(columns, features, strict=True):
        text = record[column].strip()
        if not text:
            if not feature.nullable:
                return None
            row[feature.name] = None
            continue
        value = _typed(text, feature)
        if value is None:
            return None
        row[feature.name] = value
    return row


def _typed(text: str, feature: Feature) -> Value:
    value: Value
    try:
        if feature.kind == "integer":
            value = int(text)
        elif feature.kind == "number":
            value = float(text)
            if not math.isfinite(value):
                return None
        else:
            value = text
    except ValueError:
        return None
    if feature.allowed is not None and value not in feature.allowed:
        return None
    return value


def _example(schema: InputSchema, reason: str) -> Sample:
    return Sample(rows=[schema.example_row()], path=None, reason=reason)
