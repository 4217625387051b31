"""Request bodies for the load: varied instances, never one repeated row.

A served model publishes its manifest at `GET /v1/model`; its input schema names the
features, their types and allowed values. The project's data, read by that schema
(`mlprod_cli.project.data`: the feature columns only, typed), makes realistic and varied
instances. Without usable data, instances are varied around the schema's example.
`--payload FILE` replaces both with the user's own bodies.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlprod_cli.errors import UserError

if TYPE_CHECKING:
    from mlprod_cli.project import Project
    from mlprod_cli.project.schema import Feature

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


def from_manifest(manifest: Mapping[str, Any], project: Project | None) -> Payloads:
    """Bodies of one instance each, from the project's data or the schema's example."""
    from mlprod_cli.project.data import sample
    from mlprod_cli.project.schema import InputSchema, SchemaError

    try:
        schema = InputSchema.from_manifest(manifest, "the served model's manifest")
    except SchemaError as error:
        raise UserError(f"{error}; pass --payload FILE with request bodies") from None
    found = sample(project, schema, manifest, limit=None)
    if found.path is not None:
        kept = _spread(found.rows, MAX_BODIES)
        source = f"{len(kept)} rows of {found.path} without its target column"
    else:
        kept = _variations(schema.features, schema.example, SYNTHETIC_BODIES)
        source = f"{len(kept)} variations of the manifest's example instance ({found.reason})"
    return Payloads(
        bodies=tuple(json.dumps({"instances": [row]}, separators=(",", ":")) for row in kept),
        source=source,
    )


def _variations(
    features: Sequence[Feature], example: Mapping[str, Any], count: int
) -> list[dict[str, Any]]:
    """Instances around the example: numbers within ±10%, listed values in turn."""
    generator = random.Random(0)
    instances = []
    for index in range(count):
        instance: dict[str, Any] = {}
        for feature in features:
            value = example.get(feature.name)
            if feature.allowed or feature.kind == "string" or value is None:
                choices = list(feature.allowed or [value])
                instance[feature.name] = choices[index % len(choices)]
            elif feature.kind == "integer":
                instance[feature.name] = round(_vary(float(value), generator))
            else:
                instance[feature.name] = round(_vary(float(value), generator), 4)
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
