"""Which trained model to benchmark, and rows to feed it, read from the project's files.

mlprod reads the manifest (`models/<name>-<version>.json`) as plain JSON, never
through the project's code, so that a missing model or version is reported before
any interpreter starts. Rows come from the project's example data (`data/*.csv`),
typed by the manifest's input schema, so any model the template trains can be fed;
when no data file fits, the schema's example instance is used.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlprod_cli.errors import UserError
from mlprod_cli.project import Project

DATA_DIR = "data"
MAX_ROWS = 10_000
"""Rows kept from the data file; batches larger than that repeat them."""

Value = float | int | str


@dataclass(frozen=True)
class TrainedModel:
    """One trained version: its manifest, as written by the project's registry."""

    name: str
    version: str
    manifest_path: Path
    manifest: Mapping[str, Any]

    @property
    def features(self) -> list[Mapping[str, Any]]:
        return list(self.manifest["input_schema"]["features"])


@dataclass(frozen=True)
class Inputs:
    """Rows in the schema's feature order, and where they came from."""

    rows: list[list[Value]]
    source: str


def find_trained_model(project: Project, requested: str | None) -> TrainedModel:
    """The version to benchmark: `requested`, or `[tool.mlprod] model_version`."""
    import semver

    models_dir = project.models_dir
    name = project.model_name
    trained = trained_versions(models_dir, name)
    if not trained:
        raise UserError(
            f"no trained {name} model in {models_dir}; train one first (`{project.slug} train`)"
        )
    listed = ", ".join(map(str, trained))
    if requested is None:
        version = project.model_version
        if version not in {str(v) for v in trained}:
            raise UserError(
                f"{name} {version} (model_version in pyproject.toml) is not trained; "
                f"train it (`{project.slug} train`) or pass --model-version (trained: {listed})"
            )
    else:
        if not semver.Version.is_valid(requested):
            raise UserError(
                f"--model-version {requested!r} is not a semantic version "
                "(MAJOR.MINOR.PATCH, e.g. 1.4.0)"
            )
        version = requested
        if version not in {str(v) for v in trained}:
            raise UserError(
                f"--model-version {version}: {name} {version} is not trained (trained: {listed})"
            )
    path = project.manifest_path(version)
    return TrainedModel(name=name, version=version, manifest_path=path, manifest=_manifest(path))


def trained_versions(models_dir: Path, name: str) -> list[Any]:
    """Every version of `name` with a manifest in `models_dir`, newest first.

    The same rule as the project's registry: `<name>-<semver>.json`.
    """
    import semver

    prefix = f"{name}-"
    versions = []
    for path in models_dir.glob(f"{prefix}*.json"):
        stem = path.stem.removeprefix(prefix)
        if semver.Version.is_valid(stem):
            versions.append(semver.Version.parse(stem))
    return sorted(versions, reverse=True)


def benchmark_inputs(root: Path, model: TrainedModel, limit: int = MAX_ROWS) -> Inputs:
    """Rows for the model: from the data file it was trained on, another one that has
    its features, or else its schema's example instance."""
    features = model.features
    for path in _candidate_files(root, model.manifest):
        rows = _rows_from_csv(path, features, limit)
        if rows:
            return Inputs(rows=rows, source=str(path.relative_to(root)))
    example = model.manifest["input_schema"]["example"]
    return Inputs(rows=[[example[f["name"]] for f in features]], source="the manifest's example")


def _manifest(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        schema = data["input_schema"]
        features = schema["features"]
        if not features or not all(isinstance(f["name"], str) for f in features):
            raise ValueError("its input schema lists no features")
        missing = [f["name"] for f in features if f["name"] not in schema["example"]]
        if missing:
            raise ValueError(f"its example instance lacks {', '.join(missing)}")
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None
    except (ValueError, KeyError, TypeError) as error:
        detail = f"no {error}" if isinstance(error, KeyError) else str(error)
        raise UserError(f"{path} is not a usable model manifest: {detail}") from None
    return data


def _candidate_files(root: Path, manifest: Mapping[str, Any]) -> list[Path]:
    """The training file named in the manifest first, then every other `data/*.csv`."""
    data_dir = root / DATA_DIR
    trained_on = manifest.get("data", {}).get("file") if isinstance(manifest, dict) else None
    first = [data_dir / trained_on] if isinstance(trained_on, str) else []
    others = sorted(p for p in data_dir.glob("*.csv") if p not in first)
    return [p for p in first + others if p.is_file()]


def _rows_from_csv(
    path: Path, features: Sequence[Mapping[str, Any]], limit: int
) -> list[list[Value]]:
    """Rows of `path` that the schema accepts, typed; [] when it lacks a feature column."""
    try:
        with path.open(newline="", encoding="utf-8") as file:
            reader = csv.reader(file)
            header = next(reader, [])
            if not all(f["name"] in header for f in features):
                return []
            columns = [header.index(f["name"]) for f in features]
            rows = []
            for record in reader:
                row = _typed_row(record, columns, features)
                if row is not None:
                    rows.append(row)
                    if len(rows) == limit:
                        break
            return rows
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _typed_row(
    record: Sequence[str], columns: Sequence[int], features: Sequence[Mapping[str, Any]]
) -> list[Value] | None:
    """The record's features as the schema types them; None if one does not fit."""
    if len(record) <= max(columns):
        return None
    row: list[Value] = []
    for column, feature in zip(columns, features, strict=True):
        text = record[column]
        value: Value
        try:
            if feature["type"] == "integer":
                value = int(text)
            elif feature["type"] == "number":
                value = float(text)
                if not math.isfinite(value):
                    return None
            elif text in (feature.get("allowed") or ()):
                value = text
            else:
                return None
        except ValueError:
            return None
        row.append(value)
    return row
