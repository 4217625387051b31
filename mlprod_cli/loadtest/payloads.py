"""Request bodies for the load: varied instances, never one repeated row.

A served model publishes its manifest at `GET /v1/model`; its input schema names the
features, their types and allowed values, and `data.file` the CSV it was trained on.
The rows of that CSV (in the project's `data/` folder), without the target column, make
realistic and varied instances. Without the CSV, instances are varied around the
schema's example. `--payload FILE` replaces both with the user's own bodies.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlprod_cli.errors import UserError

MAX_BODIES = 1000
"""Bodies kept: enough variety for caches and branches, little memory in every worker."""
SYNTHETIC_BODIES = 100
"""Variations of the schema's example when the data file is not at hand."""
SPREAD = 0.1
"""Numbers in synthetic instances vary by up to 10% around the example's."""


@dataclass(frozen=True)
class Payloads:
    """The bodies to POST to /v1/predict, as JSON text, and where they came from."""

    bodies: tuple[str, ...]
    source: str


def from_file(path: Path) -> Payloads:
    """`--payload FILE`: one request body (a JSON object) or a list of them."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"--payload {path}: cannot read it: {error}") from None
    except ValueError as error:
        raise UserError(f"--payload {path} is not valid JSON: {error}") from None
    bodies = data if isinstance(data, list) else [data]
    if not bodies or not all(isinstance(body, dict) for body in bodies):
        raise UserError(
            f"--payload {path} must hold a request body (a JSON object such as "
            '{"instances": [...]}) or a non-empty list of them'
        )
    kept = _spread(bodies, MAX_BODIES)
    return Payloads(
        bodies=tuple(json.dumps(body, separators=(",", ":")) for body in kept),
        source=f"{len(kept)} request bodies from {path}",
    )


def from_manifest(manifest: Mapping[str, Any], project_root: Path | None) -> Payloads:
    """Bodies of one instance each, from the training data's rows or the schema's example."""
    try:
        features = [
            (str(item["name"]), str(item["type"]), item.get("allowed"))
            for item in manifest["input_schema"]["features"]
        ]
        example = dict(manifest["input_schema"]["example"])
    except (KeyError, TypeError) as error:
        raise UserError(
            f"the served model's manifest has no usable input_schema ({error!r}); "
            "pass --payload FILE with request bodies"
        ) from None
    data_file = _data_file(manifest, project_root)
    instances: list[dict[str, Any]] = []
    reason = "no project folder to find the data in"
    if data_file is not None:
        instances, reason = _rows(data_file, features)
    if instances:
        kept = _spread(instances, MAX_BODIES)
        source = f"{len(kept)} rows of {data_file} without its target column"
    else:
        kept = _variations(features, example, SYNTHETIC_BODIES)
        source = f"{len(kept)} variations of the manifest's example instance ({reason})"
    return Payloads(
        bodies=tuple(json.dumps({"instances": [row]}, separators=(",", ":")) for row in kept),
        source=source,
    )


def _data_file(manifest: Mapping[str, Any], project_root: Path | None) -> Path | None:
    data = manifest.get("data")
    name = data.get("file") if isinstance(data, Mapping) else None
    if project_root is None or not isinstance(name, str) or not name:
        return None
    return project_root / "data" / Path(name).name


def _rows(path: Path, features: Sequence[tuple[str, str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """The CSV's rows as instances (schema columns only, typed); or none, and why."""
    try:
        with path.open(newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            missing = [name for name, _, _ in features if name not in (reader.fieldnames or [])]
            if missing:
                return [], f"{path} has no column {missing[0]!r}"
            rows = [_instance(row, features) for row in reader]
    except FileNotFoundError:
        return [], f"{path} not found"
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        return [], f"{path} is unreadable: {error}"
    usable = [row for row in rows if row is not None]
    return usable, ("" if usable else f"{path} has no row that fits the schema")


def _instance(
    row: Mapping[str, str | None], features: Sequence[tuple[str, str, Any]]
) -> dict[str, Any] | None:
    """One CSV row typed by the schema; None when a value does not fit it."""
    instance: dict[str, Any] = {}
    for name, kind, allowed in features:
        raw = (row.get(name) or "").strip()
        try:
            if kind == "integer":
                instance[name] = int(raw)
            elif kind == "number":
                value = float(raw)
                if not math.isfinite(value):
                    return None
                instance[name] = value
            elif allowed is None or raw in allowed:
                instance[name] = raw
            else:
                return None
        except ValueError:
            return None
    return instance


def _variations(
    features: Sequence[tuple[str, str, Any]], example: Mapping[str, Any], count: int
) -> list[dict[str, Any]]:
    """Instances around the example: numbers within ±10%, categories in turn."""
    generator = random.Random(0)
    instances = []
    for index in range(count):
        instance: dict[str, Any] = {}
        for name, kind, allowed in features:
            value = example.get(name)
            if kind == "string":
                choices = list(allowed or [value])
                instance[name] = choices[index % len(choices)]
            elif kind == "integer":
                instance[name] = round(_vary(float(value or 0), generator))
            else:
                instance[name] = round(_vary(float(value or 0), generator), 4)
        instances.append(instance)
    return instances


def _vary(value: float, generator: random.Random) -> float:
    spread = abs(value) * SPREAD or SPREAD
    return value + generator.uniform(-spread, spread)


def _spread(items: Sequence[Any], limit: int) -> list[Any]:
    """At most `limit` items, evenly spaced over the whole sequence."""
    if len(items) <= limit:
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]
