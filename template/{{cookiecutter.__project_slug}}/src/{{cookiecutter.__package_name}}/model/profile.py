"""The training profile: what the data and the predictions looked like, to measure drift against.

Training records, in the manifest, a compact `Profile` of the training rows and of the
model's predictions on the held-out rows. Per numeric feature: range, mean, standard
deviation, quantiles, and the shares of rows in fixed bins whose edges are the training
data's quantiles (deciles when there are enough rows); per categorical feature: the share
of each value. The predictions get the same: class shares, or a regressor's values binned.

Drift is the Population Stability Index (PSI) of served values against those shares:
``sum((actual - expected) * ln(actual / expected))`` over the bins, each share floored at
`SHARE_FLOOR` so that an empty bin does not make it infinite. The usual reading: under
`STABLE` (0.1) nothing to see, up to `DRIFTED` (0.25) a moderate shift, above it a
significant one. The same functions score live counts (the service) and files (the
``drift`` command), so both give the same number for the same values.

Those thresholds are for large samples. PSI computed from samples is noisy: with ``n``
values scored against ``m`` training values in ``B`` bins, it follows about
``(1/n + 1/m) * chi2(B - 1)`` when nothing changed (Yurdakul, *Statistical properties of
the population stability index*, 2018). So a column counts as drifted when its PSI passes
`DRIFTED` *and* the 99th percentile of that noise (`noise_floor`): 30 rows from the very
distribution the model was trained on do not raise an alert, a few thousand are held to
the usual 0.25.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .schema import MISSING_STRING, InputSchema

MAX_BINS = 10
"""Deciles of the training data, when it has the rows for them (see `bins_for`)."""
MIN_BINS = 4
MAX_CATEGORIES = 20
"""A categorical feature's values profiled one by one; the rarer ones share a bin."""
TRAINING_ROWS_PER_BIN = 80
"""Training rows per bin: the held-out split (a quarter as many rows) then has about 20
per bin. With fewer, PSI's sampling noise alone nears the alert threshold."""
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
SHARE_FLOOR = 1e-4
NOISE_QUANTILE_Z = 2.326348
"""The standard normal's 99th percentile, for `noise_floor`."""
STABLE = 0.1
DRIFTED = 0.25
DIGITS = 6

Status = Literal["stable", "moderate", "drifted", "no data"]


@dataclass(frozen=True)
class NumericProfile:
    """One numeric column: its summary statistics and its fixed-bin histogram."""

    count: int
    missing: int
    min: float
    max: float
    mean: float
    std: float
    quantiles: dict[str, float]
    edges: list[float]
    """Inner bin edges: bin ``i`` holds ``edges[i-1] < x <= edges[i]`` (open at both ends)."""
    shares: list[float]
    """The share of the non-missing training values in each bin (``len(edges) + 1``)."""
    kind: Literal["numeric"] = "numeric"

    def bin_of(self, values: np.ndarray) -> np.ndarray:
        """The bin index of each (non-missing) value."""
        return np.searchsorted(np.asarray(self.edges), values, side="left")

    def bin_labels(self) -> list[str]:
        bounds = ["-inf", *(f"{edge:.4g}" for edge in self.edges), "+inf"]
        return [f"({low}, {high}]" for low, high in itertools.pairwise(bounds)]


@dataclass(frozen=True)
class CategoricalProfile:
    """One categorical column (or a classifier's predictions): the share of each value."""

    count: int
    missing: int
    shares: dict[str, float]
    kind: Literal["categorical"] = "categorical"

    def bin_labels(self) -> list[str]:
        return [*self.shares, OTHER]


OTHER = "(other)"
"""The bin of categorical values the training data did not have, or had rarely."""

ColumnProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True)
class Profile:
    """The training rows' features and the held-out predictions, summarised."""

    rows: int
    features: dict[str, ColumnProfile]
    predictions: ColumnProfile
    measure: str = "psi"
    thresholds: dict[str, float] = field(
        default_factory=lambda: {"moderate": STABLE, "drifted": DRIFTED}
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "measure": self.measure,
            "thresholds": dict(self.thresholds),
            "features": {name: _column_dict(column) for name, column in self.features.items()},
            "predictions": _column_dict(self.predictions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        return cls(
            rows=int(data["rows"]),
            measure=str(data.get("measure", "psi")),
            thresholds=dict(data.get("thresholds", {"moderate": STABLE, "drifted": DRIFTED})),
            features={name: _column(item) for name, item in data["features"].items()},
            predictions=_column(data["predictions"]),
        )


def build_profile(
    schema: InputSchema, training: np.ndarray, predictions: np.ndarray, classifier: bool
) -> Profile:
    """The profile of the training rows (``training``, in schema order) and of ``predictions``."""
    bins = bins_for(len(training))
    features: dict[str, ColumnProfile] = {}
    for index, feature in enumerate(schema.features):
        column = training[:, index]
        if feature.type == "string":
            features[feature.name] = categorical_profile(column)
        else:
            features[feature.name] = numeric_profile(column.astype(np.float64), bins)
    if classifier:
        predicted: ColumnProfile = categorical_profile(np.asarray([str(p) for p in predictions]))
    else:
        predicted = numeric_profile(np.asarray(predictions, dtype=np.float64), bins)
    return Profile(rows=len(training), features=features, predictions=predicted)


def bins_for(rows: int) -> int:
    """Bins for ``rows`` training rows: deciles with enough data, at least quartiles."""
    return max(MIN_BINS, min(MAX_BINS, rows // TRAINING_ROWS_PER_BIN))


def numeric_profile(values: np.ndarray, bins: int = MAX_BINS) -> NumericProfile:
    present = values[~np.isnan(values)]
    if present.size == 0:
        return NumericProfile(0, int(values.size), 0.0, 0.0, 0.0, 0.0, {}, [], [1.0])
    inner = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])
    edges = [_round(edge) for edge in np.unique(inner)]
    profile = NumericProfile(
        count=int(present.size),
        missing=int(values.size - present.size),
        min=_round(present.min()),
        max=_round(present.max()),
        mean=_round(present.mean()),
        std=_round(present.std()),
        quantiles={
            str(q): _round(v)
            for q, v in zip(QUANTILES, np.quantile(present, QUANTILES), strict=True)
        },
        edges=edges,
        shares=[],
    )
    counts = np.bincount(profile.bin_of(present), minlength=len(edges) + 1)
    shares = [_round(count / present.size) for count in counts]
    return NumericProfile(**{**_fields(profile), "shares": shares})


def categorical_profile(values: np.ndarray) -> CategoricalProfile:
    """The shares of the `MAX_CATEGORIES` most frequent values; the rest are `OTHER`."""
    present = [str(value) for value in values if value is not None and value != MISSING_STRING]
    keys, counts = np.unique(np.asarray(present, dtype=str), return_counts=True)
    total = max(len(present), 1)
    kept = sorted(np.argsort(-counts, kind="stable")[:MAX_CATEGORIES])
    return CategoricalProfile(
        count=len(present),
        missing=len(values) - len(present),
        shares={str(keys[i]): _round(counts[i] / total) for i in kept},
    )


def expected_shares(column: ColumnProfile) -> list[float]:
    """The training shares per bin, in bin order (a categorical profile's `OTHER` last)."""
    if isinstance(column, NumericProfile):
        return list(column.shares)
    return [*column.shares.values(), max(0.0, 1.0 - sum(column.shares.values()))]


def counts_of(column: ColumnProfile, values: Sequence[Any] | np.ndarray) -> list[int]:
    """How many of ``values`` (missing ones left out) fall in each of ``column``'s bins."""
    if isinstance(column, NumericProfile):
        numbers = np.asarray(values, dtype=np.float64)
        numbers = numbers[~np.isnan(numbers)]
        binned = np.bincount(column.bin_of(numbers), minlength=len(column.edges) + 1)
        return [int(count) for count in binned]
    position = {key: index for index, key in enumerate(column.shares)}
    counts = [0] * (len(position) + 1)
    for value in values:
        if value is None or value == MISSING_STRING:
            continue
        counts[position.get(str(value), len(position))] += 1
    return counts


def psi(expected: Sequence[float], counts: Sequence[float]) -> float | None:
    """The Population Stability Index of ``counts`` against the shares ``expected``; None
    when there is nothing to compare (no counts)."""
    total = float(sum(counts))
    if total <= 0:
        return None
    score = 0.0
    for share, count in zip(expected, counts, strict=True):
        e = max(share, SHARE_FLOOR)
        a = max(count / total, SHARE_FLOOR)
        score += (a - e) * math.log(a / e)
    return score


def noise_floor(column: ColumnProfile, observed: float) -> float:
    """The PSI that sampling alone exceeds once in a hundred times, for ``observed`` values
    scored against ``column``; infinite with none."""
    if observed <= 0 or column.count <= 0:
        return math.inf
    degrees = max(len(expected_shares(column)) - 1, 1)
    # Wilson and Hilferty's approximation of the chi-squared distribution's quantile
    spread = 2 / (9 * degrees)
    quantile = degrees * (1 - spread + NOISE_QUANTILE_Z * math.sqrt(spread)) ** 3
    return (1 / observed + 1 / column.count) * quantile


def drift_threshold(column: ColumnProfile, observed: float) -> float:
    """The PSI above which ``observed`` values of ``column`` count as drifted."""
    return max(DRIFTED, noise_floor(column, observed))


def status(score: float | None, column: ColumnProfile | None = None, observed: float = 0) -> Status:
    """How to read ``score``: against the usual thresholds, raised to the sampling noise of
    ``observed`` values when ``column`` is given."""
    if score is None:
        return "no data"
    noise = 0.0 if column is None else noise_floor(column, observed)
    if score > max(DRIFTED, noise):
        return "drifted"
    return "moderate" if score > max(STABLE, noise) else "stable"


def _round(value: Any) -> float:
    return round(float(value), DIGITS)


def _fields(profile: NumericProfile) -> dict[str, Any]:
    return {name: getattr(profile, name) for name in profile.__dataclass_fields__}


def _column_dict(column: ColumnProfile) -> dict[str, Any]:
    if isinstance(column, NumericProfile):
        return _fields(column)
    return {
        "kind": column.kind,
        "count": column.count,
        "missing": column.missing,
        "shares": dict(column.shares),
    }


def _column(data: Mapping[str, Any]) -> ColumnProfile:
    if data["kind"] == "numeric":
        return NumericProfile(**{**data, "quantiles": dict(data["quantiles"])})
    return CategoricalProfile(
        count=int(data["count"]), missing=int(data["missing"]), shares=dict(data["shares"])
    )
