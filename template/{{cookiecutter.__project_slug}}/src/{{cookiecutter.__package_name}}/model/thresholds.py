"""The validity gate: bounds a model's evaluation metrics must meet to be registered and served.

Bounds are written in ``[tool.mlprod.thresholds]`` of the project's ``pyproject.toml``
(read by `config`, the one reader of that file), one key per bound, named after a
metric in the manifest::

    min_accuracy = 0.9     # accuracy must be at least 0.9
    max_log_loss = 0.35    # log_loss must be at most 0.35

Training checks them before it registers a model and records them in the manifest;
the server and ``serve-version`` check them again before a model is loaded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

TABLE = "[tool.mlprod.thresholds]"
PREFIXES: dict[str, Literal["min", "max"]] = {"min_": "min", "max_": "max"}


class ThresholdsError(ValueError):
    """Thresholds that cannot be read; the message names the file or the key."""


@dataclass(frozen=True)
class Bound:
    """One bound: ``metric`` must be at least (``min``) or at most (``max``) ``limit``."""

    key: str
    kind: Literal["min", "max"]
    metric: str
    limit: float

    def violation(self, metrics: Mapping[str, float]) -> str | None:
        """Why ``metrics`` fail this bound, or None when they meet it (equality meets it)."""
        value = metrics.get(self.metric)
        if value is None:
            have = ", ".join(sorted(metrics)) or "none"
            return f"{self.key}: no metric {self.metric!r} to check (the model has {have})"
        if self.kind == "min" and value < self.limit:
            return f"{self.metric} {value} < {self.key} {self.limit}"
        if self.kind == "max" and value > self.limit:
            return f"{self.metric} {value} > {self.key} {self.limit}"
        return None


@dataclass(frozen=True)
class Thresholds:
    """The bounds a model must meet, and where they were read (for messages)."""

    bounds: tuple[Bound, ...] = ()
    source: str = "no thresholds"

    @classmethod
    def from_table(cls, table: Mapping[str, object], source: str) -> Thresholds:
        """Parse ``{"min_accuracy": 0.9, ...}``; raise `ThresholdsError` naming a bad key."""
        return cls(bounds=tuple(_bound(key, value) for key, value in table.items()), source=source)

    def to_dict(self) -> dict[str, float]:
        """The bounds as written in ``pyproject.toml``, for the manifest."""
        return {bound.key: bound.limit for bound in self.bounds}

    def violations(self, metrics: Mapping[str, float]) -> list[str]:
        """One message per bound that ``metrics`` fail, naming the metric; empty if all pass."""
        return [reason for bound in self.bounds if (reason := bound.violation(metrics))]

    def describe(self) -> str:
        """The bounds in one phrase, e.g. ``min_accuracy 0.9, max_log_loss 0.35``."""
        return ", ".join(f"{bound.key} {bound.limit}" for bound in self.bounds) or "none"


def from_mlprod_table(mlprod: dict[str, object], pyproject: Path) -> Thresholds:
    """The thresholds in an already-read ``[tool.mlprod]`` table of ``pyproject``.

    Errors name the file, e.g. ``pyproject.toml: [tool.mlprod.thresholds] must be a table``.
    """
    table = mlprod.get("thresholds", {})
    if not isinstance(table, dict):
        raise ThresholdsError(f"{pyproject}: {TABLE} must be a table")
    try:
        return Thresholds.from_table(table, source=f"{TABLE} in {pyproject.name}")
    except ThresholdsError as exc:
        raise ThresholdsError(f"{pyproject}: {exc}") from None


def _bound(key: str, value: object) -> Bound:
    kind = next((kind for prefix, kind in PREFIXES.items() if key.startswith(prefix)), None)
    metric = key[4:]
    if kind is None or not metric:
        raise ThresholdsError(
            f"{TABLE} {key}: name a bound min_<metric> or max_<metric>, e.g. min_accuracy"
        )
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ThresholdsError(f"{TABLE} {key}: must be a finite number, got {value!r}")
    return Bound(key=key, kind=kind, metric=metric, limit=float(value))
