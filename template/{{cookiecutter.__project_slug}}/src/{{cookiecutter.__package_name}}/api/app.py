"""The application factory."""

from __future__ import annotations

import logging
import os
import time
from typing import BinaryIO
from urllib.parse import urlsplit, urlunsplit

import falcon
import orjson
from falcon.media import JSONHandler

from ..logging import configure_logging
from ..model import selection
from ..model.base import Model
from ..model.errors import RegistryError
from ..model.manifest import Manifest
from ..model.predictor import Predictor
from ..model.registry import LoadedModel
from ..settings import Settings, SettingsError
from .batching import BatchMetrics, MicroBatcher
from .cache import CacheMetrics, PredictionCache
from .docs import DocsResource
from .errors import handle_unexpected, serialize_error
from .faster import Faster
from .feedback import FILE_NAME, FeedbackResource, FeedbackStore, Monitoring
from .integrity import ArtifactWatch, VersionWatch
from .metrics import Metrics
from .middleware import ApiKeyAuth, Recycler, RequestLog, RequestLogger
from .openapi import build_document
from .resources import (
    HealthResource,
    MetricsResource,
    ModelResource,
    OpenApiResource,
    PredictResource,
)
from .schemas import RequestSchema
from .store import StoreFirst

logger = logging.getLogger(__name__)

PROTECTED_ROUTES = ("/v1/predict", "/v1/model", "/v1/feedback")
"""The routes that need an API key when keys are set (``/metrics`` too with METRICS_AUTH)."""


def create_app(
    settings: Settings | None = None, *, log_stream: BinaryIO | None = None
) -> falcon.App[falcon.Request, falcon.Response]:
    """Build the WSGI application serving the model that ``settings`` select.

    Logging is configured first; the model is then loaded once, after its artifact's
    SHA-256 is checked against its manifest. A model that cannot be loaded is an error
    here, so a server with ``need-app`` refuses to start rather than serve nothing.
    Request log lines go to ``log_stream`` (standard output unless a test passes one).
    """
    settings = settings or Settings()
    configure_logging(settings.log_level)
    warn_if_root()
    started = time.perf_counter()
    served, choice = _load_model(settings)
    load_seconds = time.perf_counter() - started
    manifest = served.manifest
    metrics = Metrics(manifest, settings.metrics_dir, served.runtime)
    metrics.model_loaded(load_seconds)
    watch = None
    if settings.verified_dir is not None:
        files = [(manifest.artifact.file, manifest.artifact.sha256)]
        if manifest.compiled is not None:
            files.append((manifest.compiled.file, manifest.compiled.sha256))
        watch = VersionWatch(
            [ArtifactWatch(settings.models_dir / file, sha256) for file, sha256 in files]
        )
        metrics.artifact_checked(watch.problem() is None)

    middleware: list[RequestLogger | Recycler | ApiKeyAuth] = [
        RequestLogger(RequestLog(log_stream), metrics)
    ]
    if settings.recycle_file is not None:
        choice_watch = selection.ChoiceWatch(settings.models_dir, choice, settings.model_version)
        recycler = Recycler(settings.recycle_requests, settings.recycle_file, choice_watch)
        middleware.append(recycler)
    if settings.api_keys:
        protected = PROTECTED_ROUTES + (("/metrics",) if settings.metrics_auth else ())
        middleware.append(ApiKeyAuth(settings.api_keys, protected))
    app = falcon.App(middleware=middleware)
    json_handler = JSONHandler(dumps=orjson.dumps, loads=orjson.loads)
    app.req_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.set_error_serializer(serialize_error)
    app.add_error_handler(Exception, handle_unexpected)

    classifier = manifest.output.task == "classification"
    request_schema = RequestSchema(manifest.input_schema, settings.max_instances, classifier)
    feedback = _feedback_store(settings)
    predict = PredictResource(
        served,
        request_schema,
        metrics,
        settings.max_body_bytes,
        settings.body_timeout,
        _store(settings, manifest, metrics),
        Monitoring(metrics.monitor, feedback, manifest.version),
        _faster(settings, manifest, metrics),
    )
    app.add_route("/v1/predict", predict)
    app.add_route(
        "/v1/feedback",
        FeedbackResource(
            manifest,
            feedback,
            metrics.monitor,
            settings.max_instances,
            settings.feedback_ttl,
            settings.max_body_bytes,
        ),
    )
    app.add_route("/v1/model", ModelResource(served))
    health = HealthResource(served, watch, metrics)
    app.add_route("/health/live", health, suffix="live")
    app.add_route("/health/ready", health, suffix="ready")
    app.add_route("/metrics", MetricsResource(metrics, watch))
    document = build_document(
        manifest,
        request_schema.pydantic_model,
        api_keys=bool(settings.api_keys),
        metrics_auth=settings.metrics_auth,
        max_body_bytes=settings.max_body_bytes,
        max_instances=settings.max_instances,
    )
    app.add_route("/openapi.json", OpenApiResource(document))
    docs = DocsResource(manifest.name)
    app.add_route("/docs", docs)
    app.add_route("/docs/{asset}", docs, suffix="asset")
    return app


def warn_if_root() -> None:
    """Log a warning when this process runs as root: it is about to deserialize a model file.

    A model file is code as much as data (a pickle runs what it names); loading it, and
    answering the network, as root gives any flaw in either the whole machine. uWSGI
    drops privileges before the workers load the app when UWSGI_UID and UWSGI_GID are set.
    """
    if os.geteuid() == 0:
        logger.warning(
            "this worker runs as root: set UWSGI_UID and UWSGI_GID to an unprivileged user "
            "(the image runs as uid 10001), so that loading a model and serving requests "
            "cannot act as root"
        )


def _load_model(settings: Settings) -> tuple[LoadedModel[Model], selection.Choice]:
    started = time.perf_counter()
    try:
        served, choice = selection.load_chosen(
            settings.models_dir,
            settings.model_name,
            settings.model_version,
            Predictor,
            settings.pyproject,
            settings.verified_dir,
            configured_by=settings.model_version_from,
            runtime=settings.model_runtime,
        )
    except RegistryError as exc:
        logger.critical("cannot load the model: %s", exc)
        raise
    logger.info(
        "model loaded",
        extra={
            "model_name": served.manifest.name,
            "model_version": served.manifest.version,
            "models_dir": str(settings.models_dir),
            "chosen_by": choice.source,
            "model_runtime": served.runtime,
            "runtime_chosen_by": f"MODEL_RUNTIME={settings.model_runtime}",
            "load_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return served, choice


def _feedback_store(settings: Settings) -> FeedbackStore:
    """Where predictions wait for their ground truth: shared by the workers (see `feedback`)."""
    path = settings.feedback_db
    if path is None and settings.metrics_dir is not None:
        path = settings.metrics_dir / FILE_NAME
    return FeedbackStore(path, settings.feedback_ttl, settings.feedback_max_rows)


def _store(settings: Settings, manifest: Manifest, metrics: Metrics) -> StoreFirst | None:
    """The prediction store the settings name (the redis client imported only then)."""
    if settings.prediction_store is None:
        return None
    from ..store.redis_store import RedisStore, StoreError

    try:
        store = RedisStore(settings.prediction_store, settings.prediction_store_timeout)
    except StoreError as exc:
        raise SettingsError(f"PREDICTION_STORE: {exc}") from None
    logger.info(
        "prediction store configured",
        extra={"store": _redacted(settings.prediction_store)},
    )
    return StoreFirst(store, manifest, metrics)


def _faster(settings: Settings, manifest: Manifest, metrics: Metrics) -> Faster | None:
    """The prediction cache (``PREDICTION_CACHE``) and the micro-batcher
    (``BATCH_MAX_SIZE``); None when both are off, as they are by default."""
    cache = None
    if settings.prediction_cache:
        cache = PredictionCache(settings.prediction_cache, manifest, CacheMetrics(metrics.registry))
    batcher = None
    if settings.batch_max_size:
        batcher = MicroBatcher(
            settings.batch_max_size,
            settings.batch_max_wait_ms,
            settings.batch_timeout_ms,
            BatchMetrics(metrics.registry),
        )
    if cache is None and batcher is None:
        return None
    logger.info(
        "faster answers configured",
        extra={
            "prediction_cache": settings.prediction_cache,
            "batch_max_size": settings.batch_max_size,
            "batch_max_wait_ms": settings.batch_max_wait_ms,
            "batch_timeout_ms": settings.batch_timeout_ms,
        },
    )
    return Faster(cache, batcher)


def _redacted(url: str) -> str:
    """A store URL without its password, for the log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
