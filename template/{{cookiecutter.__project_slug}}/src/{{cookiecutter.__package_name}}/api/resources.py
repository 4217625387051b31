"""The routes: predictions, the served model's manifest, health, metrics, the OpenAPI document."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import falcon
import gevent
import numpy as np
import orjson
from pydantic import ValidationError

from ..model.base import InvalidInputError, Model
from ..model.registry import LoadedModel
from .errors import ApiError, from_validation_error
from .faster import Faster
from .feedback import Monitoring
from .harakiri import Harakiri
from .integrity import VersionWatch
from .metrics import Metrics
from .schemas import RequestSchema
from .store import StoreFirst

# Up to this many predictions are logged as they are; larger batches as a summary.
LOGGED_PREDICTIONS = 10
# A refused body: what arrives within this many seconds (up to this many bytes) is dropped
# before the 413, so that a client still sending reads it rather than a reset.
DRAIN_SECONDS = 0.5
DRAIN_MAX_BYTES = 64 * 1024 * 1024


class PredictResource:
    """``POST /v1/predict``: ``{"instances": [...]}`` in, ``{"predictions": [...], ...}`` out."""

    def __init__(
        self,
        served: LoadedModel[Model],
        request_schema: RequestSchema,
        metrics: Metrics,
        max_body_bytes: int,
        body_timeout: float,
        store: StoreFirst | None = None,
        monitoring: Monitoring | None = None,
        faster: Faster | None = None,
    ) -> None:
        self._monitoring = monitoring
        self._model = served.model
        self._store = store
        self._faster = faster
        self._body_timeout = body_timeout
        self._harakiri = Harakiri()
        self._request_schema = request_schema
        self._metrics = metrics
        self._max_body_bytes = max_body_bytes
        self._classifier = served.manifest.output.task == "classification"
        self._class_keys = [str(label) for label in served.manifest.output.classes]
        name, version = served.manifest.name, served.manifest.version
        self._identity = {"name": name, "version": version}
        self._log_identity = {
            "model_name": name,
            "model_version": version,
            "model_runtime": served.runtime,
        }

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        log_fields = req.context.log_fields
        log_fields.update(self._log_identity)
        _require_json(req)
        body = self._read_body(req)
        # from here on nothing waits on a socket: harakiri covers the work (see harakiri.py)
        with self._harakiri:
            try:
                features, with_probabilities = self._request_schema.parse(body)
            except ValidationError as exc:
                self._metrics.validation_failed(item["loc"] for item in exc.errors())
                raise from_validation_error(exc) from None
            log_fields["instances"] = len(features)
            try:
                if self._faster is not None:  # PREDICTION_CACHE, BATCH_MAX_SIZE: faster.py
                    predictions, probabilities, from_store = self._faster.answer(
                        features, with_probabilities, self._predict, self._store, log_fields
                    )
                elif self._store is None:
                    predictions, probabilities = self._predict(features, with_probabilities)
                    from_store = None
                else:
                    predictions, probabilities, from_store = self._store.predict(
                        features,
                        with_probabilities,
                        lambda rows: self._predict(rows, with_probabilities),
                    )
            except InvalidInputError as exc:
                raise ApiError(422, "invalid_input", str(exc)) from None
        self._metrics.predicted(predictions, with_probabilities)
        if self._monitoring is not None:  # drift, feedback's join state, logged inputs
            self._monitoring.predicted(req.context.request_id, features, predictions, log_fields)
        answer: dict[str, Any] = {"predictions": predictions, "model": self._identity}
        if from_store is not None:
            answer["from_store"] = from_store
            log_fields["store_hits"] = sum(from_store)
            if len(from_store) <= LOGGED_PREDICTIONS:
                log_fields["from_store"] = from_store
        if len(predictions) <= LOGGED_PREDICTIONS:
            log_fields["predictions"] = predictions
        else:
            log_fields["prediction_summary"] = _summary(predictions, self._classifier)
        if probabilities is not None:
            answer["probabilities"] = probabilities
            log_fields["return_probabilities"] = True
            if len(probabilities) <= LOGGED_PREDICTIONS:
                log_fields["probabilities"] = probabilities
        resp.content_type = falcon.MEDIA_JSON
        resp.data = orjson.dumps(answer)

    def _predict(
        self, features: np.ndarray, with_probabilities: bool
    ) -> tuple[list[Any], list[dict[str, float]] | None]:
        predictions = self._model.predict(features).tolist()
        return predictions, self._probabilities(features) if with_probabilities else None

    def _probabilities(self, features: np.ndarray) -> list[dict[str, float]]:
        """``{"class": p, ...}`` per instance, classes as the manifest names them."""
        keys = self._class_keys
        rows = self._model.predict_proba(features).tolist()
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def _read_body(self, req: falcon.Request) -> bytes:
        """The body, refused before it is read when it is empty or over the limit.

        uWSGI hands the app the request as soon as its headers are in (no post-buffering),
        so an announced body over the limit gets its 413 at once: what the client sends
        within `DRAIN_SECONDS` is read and dropped first, so that a client still sending
        reads the answer instead of a reset connection. The body itself is read under a
        deadline (BODY_TIMEOUT): too slow, or stalled for uWSGI's socket-timeout, is a 408.
        While the read waits, gevent's loop serves the worker's other requests (uwsgi.ini),
        so slow clients cannot hold the service.
        """
        length = req.content_length
        if not length:
            # A body without Content-Length (chunked) reaches a WSGI app empty, too.
            raise ApiError(400, "malformed_json", "the body is empty (or has no Content-Length)")
        if length > self._max_body_bytes:
            _drain(req.stream, length)
            raise ApiError(
                413,
                "payload_too_large",
                f"the body is {length} bytes; the limit is {self._max_body_bytes} bytes "
                "(MAX_BODY_BYTES)",
            )
        body = b""
        # False: a silent timeout (gevent documents it; types-gevent's stub does not allow it)
        with contextlib.suppress(OSError), gevent.Timeout(self._body_timeout, False):  # type: ignore[arg-type]
            # Exactly Content-Length bytes: the bound bounded_stream applies, one call less.
            body = req.stream.read(length)
        if len(body) < length:
            raise ApiError(
                408,
                "request_timeout",
                f"the body did not arrive within {self._body_timeout:g} s (BODY_TIMEOUT), "
                "or stopped arriving; send all Content-Length bytes",
            )
        return body


def _drain(stream: Any, length: int) -> None:
    """Read and drop what arrives of a refused body, for at most `DRAIN_SECONDS`."""
    remaining = min(length, DRAIN_MAX_BYTES)
    with contextlib.suppress(OSError), gevent.Timeout(DRAIN_SECONDS, False):  # type: ignore[arg-type]
        while remaining > 0:
            chunk = stream.read(min(remaining, 65536))
            if not chunk:
                return
            remaining -= len(chunk)


class ModelResource:
    """``GET /v1/model``: the manifest of the model being served, and the runtime that
    answers (``native`` or ``onnx``, see ``MODEL_RUNTIME``)."""

    def __init__(self, served: LoadedModel[Model]) -> None:
        self._body = orjson.dumps({**served.manifest.to_dict(), "runtime": served.runtime})

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._body


class HealthResource:
    """``GET /health/live`` (the process answers) and ``/health/ready`` (a model is loaded,
    and its artifact on disk is still the one verified: otherwise a 503 that says why)."""

    def __init__(
        self,
        served: LoadedModel[Model] | None,
        watch: VersionWatch | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._served = served
        self._watch = watch
        self._metrics = metrics

    def on_get_live(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "alive"}

    def on_get_ready(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._served is None:
            raise ApiError(503, "not_ready", "no model loaded yet")
        if self._watch is not None:
            problem = self._watch.problem()
            if self._metrics is not None:
                self._metrics.artifact_checked(problem is None)
            if problem is not None:
                raise ApiError(503, "not_ready", problem)
        manifest = self._served.manifest
        resp.media = {
            "status": "ready",
            "model": {"name": manifest.name, "version": manifest.version},
        }


class MetricsResource:
    """``GET /metrics``: Prometheus' text format, every worker's values added up."""

    def __init__(self, metrics: Metrics, watch: VersionWatch | None = None) -> None:
        self._metrics = metrics
        self._watch = watch

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._watch is not None:
            self._metrics.artifact_checked(self._watch.problem() is None)
        resp.data, resp.content_type = self._metrics.exposition()


class OpenApiResource:
    """``GET /openapi.json``: the document, serialized once at start-up."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._body = orjson.dumps(document)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._body


def _require_json(req: falcon.Request) -> None:
    media_type = (req.content_type or "").partition(";")[0].strip().lower()
    if media_type != falcon.MEDIA_JSON:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type must be {falcon.MEDIA_JSON}, got {req.content_type or 'none'}",
        )


def _summary(predictions: Sequence[Any], classifier: bool) -> dict[str, Any]:
    """A bounded summary of many predictions: counts per class, or the range of values."""
    if classifier:
        counts: dict[str, int] = {}
        for value in predictions:
            counts[str(value)] = counts.get(str(value), 0) + 1
        return {"counts": counts}
    return {
        "min": min(predictions),
        "mean": sum(predictions) / len(predictions),
        "max": max(predictions),
    }
