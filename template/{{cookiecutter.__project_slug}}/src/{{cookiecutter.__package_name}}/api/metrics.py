"""Prometheus metrics, correct under several uWSGI worker processes.

Each worker counts in its own process. With ``PROMETHEUS_MULTIPROC_DIR`` set (uwsgi.ini
sets it, and empties the directory once at start, before any worker loads), every
worker writes its values to memory-mapped files there and ``/metrics`` adds up the
files of all workers, so a scrape answered by any one worker shows the whole server.
Without it (tests, a single process) the values stay in memory.

Label values are bounded: routes are URI templates, methods and fields come from fixed
sets, so no client can create an unbounded number of time series.
"""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import falcon
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from ..model.manifest import Manifest
from .monitor import Monitor

UNMATCHED_ROUTE = "unmatched"
UNKNOWN_FIELD = "unknown"

# Seconds; a fast model answers in about a millisecond, a slow one in tens of them.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Predicted values of a regression model; replace them with your target's range.
VALUE_BUCKETS = (-100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1000.0)

_METHODS = frozenset(falcon.COMBINED_METHODS)


class Metrics:
    """The service's metrics, and their exposition in Prometheus' text format."""

    def __init__(
        self, manifest: Manifest, metrics_dir: Path | None, runtime: str = "native"
    ) -> None:
        self._metrics_dir = metrics_dir
        self._registry = CollectorRegistry()
        registry = self._registry
        self._requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, route (URI template) and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "http_request_duration_seconds",
            "Time from receiving a request to answering it, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._instances = Counter(
            "model_instances", "Instances predicted (a request may hold many).", registry=registry
        )
        self._validation_failures = Counter(
            "http_validation_failures",
            "Refused prediction requests, by the field at fault (body, instances or a feature).",
            ["field"],
            registry=registry,
        )
        self._probability_requests = Counter(
            "model_probability_requests",
            "Prediction requests that asked for class probabilities.",
            registry=registry,
        )
        self._classes: Counter | None = None
        self._values: Histogram | None = None
        if manifest.output.task == "classification":
            self._classes = Counter(
                "model_predictions",
                "Predictions, by predicted class.",
                ["class"],
                registry=registry,
            )
        else:
            self._values = Histogram(
                "model_prediction_value",
                "Predicted values.",
                buckets=VALUE_BUCKETS,
                registry=registry,
            )
        self._load_seconds = Gauge(
            "model_load_seconds",
            "Time the worker took to verify and load the model, slowest live worker.",
            multiprocess_mode="livemax",
            registry=registry,
        )
        self._info = Gauge(
            "model_info",
            "The model being served (always 1), by name and version.",
            ["name", "version"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self._info.labels(manifest.name, manifest.version).set(1)
        self._runtime = Gauge(
            "model_runtime_info",
            "The runtime answering predictions (always 1): native (the framework's own) "
            "or onnx (ONNX Runtime, the compiled model); see MODEL_RUNTIME.",
            ["runtime"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self._runtime.labels(runtime).set(1)
        self._artifact_changed = Gauge(
            "model_artifact_changed",
            "1 when the served artifact on disk no longer matches its manifest (the workers "
            "serve the copy verified at start); see /health/ready for the reason.",
            # The latest check by any live worker wins: each worker checks when it answers a
            # probe or a scrape, so with "livemax" a worker that has not checked since the
            # file was put back would keep reporting 1.
            multiprocess_mode="livemostrecent",
            registry=registry,
        )
        self._store_lookups = Counter(
            "prediction_store_lookups",
            "Instances looked up in the prediction store (PREDICTION_STORE), by result.",
            ["result"],
            registry=registry,
        )
        self._store_errors = Counter(
            "prediction_store_errors",
            "Failed or timed-out prediction store lookups (answered by the model instead).",
            registry=registry,
        )
        self._features = frozenset(manifest.input_schema.names)
        self.monitor = Monitor(manifest, registry)
        """Drift and feedback counts, and the scores derived from them (`monitor`)."""
        # Label lookups cost more than the increments; each child is looked up once.
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._latency_children: dict[str, Any] = {}
        self._class_children: dict[Any, Any] = {}
        if metrics_dir is not None:
            _forget_dead_workers(metrics_dir)
            atexit.register(multiprocess.mark_process_dead, os.getpid(), str(metrics_dir))

    @property
    def registry(self) -> CollectorRegistry:
        """Where other modules' metrics register (cache.py, batching.py)."""
        return self._registry

    def model_loaded(self, seconds: float) -> None:
        self._load_seconds.set(seconds)

    def artifact_checked(self, matches: bool) -> None:
        self._artifact_changed.set(0 if matches else 1)

    def request_answered(self, method: str, route: str | None, status: int, seconds: float) -> None:
        """Count one answered request and its latency; `route` is None when nothing matched."""
        route = route or UNMATCHED_ROUTE
        key = (method, route, status)
        requests = self._request_children.get(key)
        if requests is None:
            label = method if method in _METHODS else "OTHER"
            requests = self._requests.labels(label, route, str(status))
            self._request_children[key] = requests
        requests.inc()
        latency = self._latency_children.get(route)
        if latency is None:
            latency = self._latency_children[route] = self._latency.labels(route)
        latency.observe(seconds)

    def predicted(self, predictions: Sequence[Any], with_probabilities: bool = False) -> None:
        """Count the instances of one request and the distribution of what was predicted."""
        self._instances.inc(len(predictions))
        if with_probabilities:
            self._probability_requests.inc()
        if self._classes is not None:
            for value, count in _counts(predictions).items():
                child = self._class_children.get(value)
                if child is None:
                    child = self._class_children[value] = self._classes.labels(str(value))
                child.inc(count)
        elif self._values is not None:
            for value in predictions:
                self._values.observe(value)

    def store_looked_up(self, hits: int, misses: int) -> None:
        """Count one request's instances answered from the store and sent to the model."""
        if hits:
            self._store_lookups.labels("hit").inc(hits)
        if misses:
            self._store_lookups.labels("miss").inc(misses)

    def store_failed(self) -> None:
        self._store_errors.inc()

    def validation_failed(self, locations: Iterable[tuple[int | str, ...]]) -> None:
        """Count a refused request once per field at fault (pydantic error locations)."""
        for field in {self._field(loc) for loc in locations}:
            self._validation_failures.labels(field).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text a scrape gets, and its content type: every worker's values, added up."""
        if self._metrics_dir is None:
            scores = self.monitor.scores(self._registry)
            return generate_latest(scores), CONTENT_TYPE_LATEST
        registry = CollectorRegistry()
        # prometheus-client leaves these two functions unannotated
        multiprocess.MultiProcessCollector(registry, path=str(self._metrics_dir))  # type: ignore[no-untyped-call]
        return generate_latest(self.monitor.scores(registry)), CONTENT_TYPE_LATEST

    def _field(self, loc: tuple[int | str, ...]) -> str:
        """``('instances', 3, 'age')`` -> ``age``; a field the schema does not know -> unknown."""
        names = [part for part in loc if isinstance(part, str)]
        if not names:
            return "body"
        if len(names) == 1:
            return names[0] if names[0] == "instances" else UNKNOWN_FIELD
        return names[-1] if names[-1] in self._features else UNKNOWN_FIELD


def _counts(values: Sequence[Any]) -> dict[Any, int]:
    counts: dict[Any, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _forget_dead_workers(metrics_dir: Path) -> None:
    """Drop the live gauges of workers that died without exiting cleanly (e.g. harakiri).

    Workers that exit normally do this themselves (`atexit`); a killed one cannot, and
    its model version would linger in ``model_info`` after a switch to a new one.
    """
    for path in metrics_dir.glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not _running(int(pid)):
            # Workers recycled together start together: another may have removed the
            # files first. A failure here would fail the app's load, and need-app would
            # take the whole server down (seen when every worker recycled at once).
            with contextlib.suppress(FileNotFoundError):
                multiprocess.mark_process_dead(int(pid), str(metrics_dir))  # type: ignore[no-untyped-call]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
