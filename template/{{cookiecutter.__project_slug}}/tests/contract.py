"""What the tests know about this project, read from its configuration and data.

Nothing here names a feature, a class or a score: the tests check contracts (shapes,
types, ranges, thresholds, round trips) on whatever data ``[tool.mlprod.data]`` names
and whatever estimator ``model/estimator.py`` builds, so they keep passing when you
bring your own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from {{ cookiecutter.__package_name }}.model.schema import Feature
from {{ cookiecutter.__package_name }}.model.train import find_project_config, load_dataset

PROJECT = find_project_config(Path(__file__).parent)
DATASET = load_dataset(PROJECT)
SCHEMA = DATASET.schema
CLASSIFIER = PROJECT.task == "classification"
FEATURES: tuple[Feature, ...] = SCHEMA.features
EXAMPLE: dict[str, Any] = dict(SCHEMA.example)
"""A valid instance: the manifest's example (the data's first row without gaps)."""
LAST = FEATURES[-1].name
_NUMERIC = [f for f in FEATURES if f.type != "string"]
NUMBER: Feature = next((f for f in _NUMERIC if not f.nullable), (_NUMERIC or [FEATURES[0]])[0])
"""A numeric feature that takes no null, when the data has one: request validation uses it."""
TYPE_ERROR = {
    "number": "Input should be a valid number",
    "integer": "Input should be a valid integer",
    "string": "Input should be a valid string",
}


def instance(row: int) -> dict[str, Any]:
    """Row ``row`` of the data set as a request instance (``null`` where it has a gap)."""
    return {f.name: _json_value(DATASET.X[row, i], f) for i, f in enumerate(FEATURES)}


def instances(count: int) -> list[dict[str, Any]]:
    """The first ``count`` rows (fewer if the data has fewer), as request instances."""
    return [instance(row) for row in range(min(count, len(DATASET.y)))]


def _json_value(value: Any, feature: Feature) -> Any:
    if feature.type == "string":
        return value or None
    if np.isnan(value):
        return None
    return int(value) if feature.type == "integer" else float(value)


def thresholds_table(bounds: dict[str, float]) -> str:
    """A ``pyproject.toml`` holding only ``[tool.mlprod.thresholds]`` with ``bounds``."""
    lines = "".join(f"{key} = {value!r}\n" for key, value in bounds.items())
    return f"[tool.mlprod]\n\n[tool.mlprod.thresholds]\n{lines}"


def unmet(metrics: dict[str, float]) -> tuple[str, float, str]:
    """A bound ``metrics`` fail (on the first metric), and the violation training reports."""
    metric, value = next(iter(metrics.items()))
    limit = value + 1.0
    return f"min_{metric}", limit, f"{metric} {value} < min_{metric} {limit}"


def with_thresholds(text: str, bounds: dict[str, float]) -> str:
    """``pyproject.toml``'s text with ``[tool.mlprod.thresholds]`` holding only ``bounds``."""
    table = "[tool.mlprod.thresholds]\n"
    lines = "".join(f"{key} = {value!r}\n" for key, value in bounds.items())
    return re.sub(r"\[tool\.mlprod\.thresholds\]\n[^\[]*", lambda _: f"{table}{lines}\n", text)
