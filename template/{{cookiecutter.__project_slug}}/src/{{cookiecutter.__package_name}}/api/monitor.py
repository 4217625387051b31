"""Live drift and live quality: counted per request, scored when ``/metrics`` is scraped.

Counting: every predicted instance adds one to a counter per feature and bin of the
training profile (`model.profile`), per missing value and per value outside the training
range, and one per prediction bin (a class, or a bin of a regressor's values). They are
ordinary prometheus-client counters, so under uWSGI they live in the multi-process
directory and a scrape adds up every worker's: memory is one slot per (version, feature,
bin), whatever the traffic. A request of a few instances costs a bisection per value into
per-worker lists, added to the shared counters every `FLUSH_EVERY` requests (or
`FLUSH_SECONDS`, or a scrape); a larger one a few array operations and an increment per
bin it touches.

Scoring: at scrape time `Scores` reads those sums and turns them into gauges: the PSI of
each feature and of the predictions against the served version's profile, the threshold
it is held to (0.25, raised to the sampling noise of the values seen so far; see
`profile.drift_threshold`), and, from the ground-truth feedback counters, the live
accuracy (classification) or MAE, RMSE and R² (regression) per model version.
"""

from __future__ import annotations

import atexit
import bisect
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from ..model.manifest import Manifest
from ..model.profile import (
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    Profile,
    counts_of,
    drift_threshold,
    expected_shares,
    psi,
)

BINS = "model_feature_bin_observations"
PREDICTION_BINS = "model_prediction_bin_observations"
FEEDBACK = "model_feedback"
SMALL_REQUEST = 8
"""Requests of up to this many instances are counted row by row, larger ones as arrays."""
FLUSH_EVERY = 16
FLUSH_SECONDS = 1.0
"""A worker adds small requests' counts to the shared counters every `FLUSH_EVERY`
requests, at its first request `FLUSH_SECONDS` after the last flush, when it answers a
scrape, and when it exits: a scrape misses at most 15 requests per other worker."""


Key = tuple[tuple[str, str], ...]
"""A sample's labels, sorted: the order a collector lists them in does not matter."""


def _key(**labels: str) -> Key:
    return tuple(sorted(labels.items()))


class Source(Protocol):
    def collect(self) -> Iterable[Metric]: ...


class Monitor:
    """Counts what the served version sees and is told; `scores` adds the derived gauges."""

    def __init__(self, manifest: Manifest, registry: CollectorRegistry) -> None:
        self._manifest = manifest
        self._version = version = manifest.version
        self._classifier = manifest.output.task == "classification"
        self._profile = profile = manifest.profile
        self._bins = Counter(
            BINS,
            "Served instances by feature and training-profile bin (see GET /v1/model: "
            "profile), the counts drift is scored from.",
            ["version", "feature", "bin"],
            registry=registry,
        )
        self._missing = Counter(
            "model_feature_missing",
            "Served instances with no value (null) for a feature.",
            ["version", "feature"],
            registry=registry,
        )
        self._out_of_range = Counter(
            "model_feature_out_of_range",
            "Served instances with a numeric feature outside its training range.",
            ["version", "feature"],
            registry=registry,
        )
        self._prediction_bins = Counter(
            PREDICTION_BINS,
            "Predictions by training-profile bin (a class, or a bin of predicted values).",
            ["version", "bin"],
            registry=registry,
        )
        self._feedback = Counter(
            FEEDBACK,
            "Ground-truth labels or values received for predictions, by the version that "
            "made them.",
            ["version"],
            registry=registry,
        )
        if self._classifier:
            self._correct = Counter(
                "model_feedback_correct",
                "Predictions the ground truth confirmed, by version.",
                ["version"],
                registry=registry,
            )
        else:
            self._sums = {
                name: Counter(f"model_feedback_{name}", text, ["version"], registry=registry)
                for name, text in (
                    ("absolute_error", "Sum of |prediction - truth| over the feedback."),
                    ("squared_error", "Sum of (prediction - truth)^2 over the feedback."),
                    ("truth", "Sum of the true values received."),
                    ("truth_squared", "Sum of the squares of the true values received."),
                )
            }
        self._numeric: list[tuple[int, str, NumericProfile]] = []
        self._categorical: list[tuple[int, str, CategoricalProfile]] = []
        self._positions: dict[str, dict[str, int]] = {}
        if profile is None:
            return
        for index, feature in enumerate(manifest.input_schema.features):
            column = profile.features.get(feature.name)
            if isinstance(column, NumericProfile):
                self._numeric.append((index, feature.name, column))
            elif isinstance(column, CategoricalProfile):
                self._categorical.append((index, feature.name, column))
                self._positions[feature.name] = {key: i for i, key in enumerate(column.shares)}
        # One row of edges per numeric feature, padded with +inf: a value's bin is the
        # number of its feature's edges below it, for every feature in one comparison.
        width = max((len(column.edges) for _, _, column in self._numeric), default=0)
        self._edges = np.full((len(self._numeric), max(width, 1)), np.inf)
        for row, (_, _, column) in enumerate(self._numeric):
            self._edges[row, : len(column.edges)] = column.edges
        self._stride = width + 1
        self._columns = [index for index, _, _ in self._numeric]
        self._low = np.array([column.min for _, _, column in self._numeric])
        self._high = np.array([column.max for _, _, column in self._numeric])
        self._bin_children = [
            self._bins.labels(version, name, str(bin_))
            for _, name, column in self._numeric
            for bin_ in range(self._stride)
        ]
        self._missing_children = [self._missing.labels(version, n) for _, n, _ in self._numeric]
        self._range_children = [self._out_of_range.labels(version, n) for _, n, _ in self._numeric]
        predicted = profile.predictions
        self._prediction_children = [
            self._prediction_bins.labels(version, str(bin_))
            for bin_ in range(len(expected_shares(predicted)))
        ]
        # Small requests are counted here first and added to the shared counters (a
        # memory-mapped file write each) every FLUSH_EVERY requests, FLUSH_SECONDS, or scrape.
        self._pending_bins = [0] * len(self._bin_children)
        self._pending_missing = [0] * len(self._numeric)
        self._pending_range = [0] * len(self._numeric)
        self._pending_predictions = [0] * len(self._prediction_children)
        self._pending_categorical: dict[tuple[Counter, tuple[str, ...]], int] = {}
        self._unflushed = 0
        self._flush_due = time.monotonic() + FLUSH_SECONDS
        atexit.register(self.flush)
        self._prediction_positions = (
            {key: i for i, key in enumerate(predicted.shares)}
            if isinstance(predicted, CategoricalProfile)
            else {}
        )

    def observe(self, features: np.ndarray, predictions: Sequence[Any]) -> None:
        """Count one request's instances (in schema order) and predictions."""
        if self._profile is None:
            return
        if len(features) <= SMALL_REQUEST:
            self._observe_rows(features.tolist())
        else:
            self._observe_array(features)
        if len(predictions) <= SMALL_REQUEST:
            for prediction in predictions:
                self._pending_predictions[self._prediction_bin(prediction)] += 1
            self._unflushed += 1
            if self._unflushed >= FLUSH_EVERY or time.monotonic() >= self._flush_due:
                self.flush()
            return
        for bin_, count in enumerate(counts_of(self._profile.predictions, predictions)):
            if count:
                self._prediction_children[bin_].inc(count)

    def flush(self) -> None:
        """Add the counts kept since the last flush to the shared counters."""
        for pending, children in (
            (self._pending_bins, self._bin_children),
            (self._pending_missing, self._missing_children),
            (self._pending_range, self._range_children),
            (self._pending_predictions, self._prediction_children),
        ):
            for slot, count in enumerate(pending):
                if count:
                    children[slot].inc(count)
                    pending[slot] = 0
        for (metric, labels), count in self._pending_categorical.items():
            metric.labels(*labels).inc(count)
        self._pending_categorical.clear()
        self._unflushed = 0
        self._flush_due = time.monotonic() + FLUSH_SECONDS

    def _prediction_bin(self, prediction: Any) -> int:
        column = self._profile.predictions if self._profile is not None else None
        if isinstance(column, NumericProfile):
            return bisect.bisect_left(column.edges, prediction)
        return self._prediction_positions.get(str(prediction), len(self._prediction_positions))

    def _observe_rows(self, rows: list[list[Any]]) -> None:
        """A few rows: plain Python (a bisection per value) costs less than array set-up."""
        for row in rows:
            for slot, (index, _, column) in enumerate(self._numeric):
                value = row[index]
                if value is None or value != value:  # NaN: missing
                    self._pending_missing[slot] += 1
                    continue
                bin_ = bisect.bisect_left(column.edges, value)
                self._pending_bins[slot * self._stride + bin_] += 1
                if value < column.min or value > column.max:
                    self._pending_range[slot] += 1
            for index, name, profile in self._categorical:
                value = row[index]
                key: tuple[Counter, tuple[str, ...]]
                if value is None or value == "":
                    key = (self._missing, (self._version, name))
                else:
                    bin_ = self._positions[name].get(str(value), len(profile.shares))
                    key = (self._bins, (self._version, name, str(bin_)))
                self._pending_categorical[key] = self._pending_categorical.get(key, 0) + 1

    def _observe_array(self, features: np.ndarray) -> None:
        if self._numeric:
            values = features[:, self._columns]
            if values.dtype != np.float64:
                values = values.astype(np.float64)
            missing = np.isnan(values)
            bins = (values[:, :, None] > self._edges[None, :, :]).sum(axis=2)
            flat = (bins + np.arange(len(self._numeric)) * self._stride)[~missing]
            counts = np.bincount(flat, minlength=len(self._bin_children))
            for slot in np.flatnonzero(counts):
                self._bin_children[slot].inc(int(counts[slot]))
            with np.errstate(invalid="ignore"):
                outside = ((values < self._low) | (values > self._high)).sum(axis=0)
            for column in np.flatnonzero(outside):
                self._range_children[column].inc(int(outside[column]))
            for column in np.flatnonzero(missing.sum(axis=0)):
                self._missing_children[column].inc(int(missing[:, column].sum()))
        for index, name, profile in self._categorical:
            column_values = features[:, index]
            absent = sum(1 for value in column_values if value in (None, ""))
            if absent:
                self._missing.labels(self._version, name).inc(absent)
            for bin_, count in enumerate(counts_of(profile, column_values)):
                if count:
                    self._bins.labels(self._version, name, str(bin_)).inc(count)

    def feedback_received(self, version: str, truth: Any, predicted: Any) -> None:
        """Count one ground-truth answer for a prediction made by ``version``."""
        self._feedback.labels(version).inc()
        if self._classifier:
            if truth == predicted:
                self._correct.labels(version).inc()
            return
        error = float(predicted) - float(truth)
        for name, amount in (
            ("absolute_error", abs(error)),
            ("squared_error", error * error),
            ("truth", float(truth)),
            ("truth_squared", float(truth) ** 2),
        ):
            self._sums[name].labels(version).inc(amount)

    def scores(self, source: Source) -> Scores:
        """``source``'s metrics, followed by the drift and quality gauges computed from them
        (this worker's pending counts flushed first)."""
        if self._profile is not None:
            self.flush()
        return Scores(source, self._manifest, self._classifier)


class Scores:
    """A collector: another collector's metrics, then the gauges derived from them."""

    def __init__(self, source: Source, manifest: Manifest, classifier: bool) -> None:
        self._source = source
        self._manifest = manifest
        self._classifier = classifier

    def collect(self) -> Iterator[Metric]:
        sums: dict[str, dict[Key, float]] = {}
        for family in self._source.collect():
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.name.startswith("model_"):
                    key = _key(**sample.labels)
                    table = sums.setdefault(sample.name.removesuffix("_total"), {})
                    table[key] = table.get(key, 0.0) + sample.value
            yield family
        if self._manifest.profile is not None:
            yield from self._drift(self._manifest.profile, sums)
        yield from self._quality(sums)

    def _drift(self, profile: Profile, sums: dict[str, dict[Key, float]]) -> Iterator[Metric]:
        version = self._manifest.version
        scores = GaugeMetricFamily(
            "model_feature_drift_psi",
            "Population Stability Index of each feature's served values (since the server "
            "started) against the training profile of the version serving this scrape.",
            labels=["version", "feature"],
        )
        limits = GaugeMetricFamily(
            "model_feature_drift_threshold",
            "The PSI above which a feature counts as drifted: 0.25, or the sampling noise "
            "of the values seen so far when larger.",
            labels=["version", "feature"],
        )
        bins = sums.get(BINS, {})
        for name, column in profile.features.items():
            counts = [
                bins.get(_key(version=version, feature=name, bin=str(index)), 0.0)
                for index in range(len(expected_shares(column)))
            ]
            self._add(scores, limits, [version, name], column, counts)
        yield scores
        yield limits
        prediction_score = GaugeMetricFamily(
            "model_prediction_drift_psi",
            "Population Stability Index of the predictions against those on held-out rows.",
            labels=["version"],
        )
        prediction_limit = GaugeMetricFamily(
            "model_prediction_drift_threshold",
            "The PSI above which the predictions count as drifted.",
            labels=["version"],
        )
        predicted = sums.get(PREDICTION_BINS, {})
        counts = [
            predicted.get(_key(version=version, bin=str(index)), 0.0)
            for index in range(len(expected_shares(profile.predictions)))
        ]
        self._add(prediction_score, prediction_limit, [version], profile.predictions, counts)
        yield prediction_score
        yield prediction_limit

    @staticmethod
    def _add(
        scores: GaugeMetricFamily,
        limits: GaugeMetricFamily,
        labels: list[str],
        column: ColumnProfile,
        counts: list[float],
    ) -> None:
        score = psi(expected_shares(column), counts)
        if score is None:
            return  # nothing served yet: no score rather than a misleading 0
        scores.add_metric(labels, score)
        limits.add_metric(labels, drift_threshold(column, sum(counts)))

    def _quality(self, sums: dict[str, dict[Key, float]]) -> Iterator[Metric]:
        quality = GaugeMetricFamily(
            "model_live_quality",
            "The model's quality on the predictions whose ground truth arrived "
            "(POST /v1/feedback), by the version that made them.",
            labels=["version", "metric"],
        )
        for key, total in sums.get(FEEDBACK, {}).items():
            version = dict(key).get("version", "")
            if total <= 0:
                continue
            for metric, value in self._live(sums, version, total).items():
                quality.add_metric([version, metric], value)
        yield quality
        thresholds = GaugeMetricFamily(
            "model_quality_threshold",
            "The served version's thresholds ([tool.mlprod.thresholds] at training), by "
            "metric and bound (min or max); live quality alerts compare against them.",
            labels=["metric", "bound"],
        )
        for name, value in self._manifest.thresholds.items():
            bound, _, metric = name.partition("_")
            if bound in ("min", "max"):
                thresholds.add_metric([metric, bound], value)
        yield thresholds

    def _live(
        self, sums: dict[str, dict[Key, float]], version: str, total: float
    ) -> dict[str, float]:
        def summed(name: str) -> float:
            return sums.get(f"{FEEDBACK}_{name}", {}).get(_key(version=version), 0.0)

        if self._classifier:
            return {"accuracy": summed("correct") / total}
        live = {
            "mae": summed("absolute_error") / total,
            "rmse": math.sqrt(summed("squared_error") / total),
        }
        spread = summed("truth_squared") - summed("truth") ** 2 / total
        if total >= 2 and spread > 0:
            live["r2"] = 1 - summed("squared_error") / spread
        return live
