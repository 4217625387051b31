"""The application factory."""

from __future__ import annotations

import logging
import time
from typing import BinaryIO

import falcon
import orjson
from falcon.media import JSONHandler

from ..logging import configure_logging
from ..model import registry
from ..model.predictor import Predictor
from ..settings import Settings
from .docs import DocsResource
from .errors import handle_unexpected, serialize_error
from .metrics import Metrics
from .middleware import ApiKeyAuth, RequestLog, RequestLogger
from .openapi import build_document
from .resources import (
    HealthResource,
    MetricsResource,
    ModelResource,
    OpenApiResource,
    PredictResource,
)
from .schemas import RequestSchema

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, *, log_stream: BinaryIO | None = None
) -> falcon.App:
    """Build the WSGI application serving the model that ``settings`` select.

    Logging is configured first; the model is then loaded once, after its artifact's
    SHA-256 is checked against its manifest. A model that cannot be loaded is an error
    here, so a server with ``need-app`` refuses to start rather than serve nothing.
    Request log lines go to ``log_stream`` (standard output unless a test passes one).
    """
    settings = settings or Settings()
    configure_logging(settings.log_level)
    started = time.perf_counter()
    served = _load_model(settings)
    load_seconds = time.perf_counter() - started
    manifest = served.manifest
    metrics = Metrics(manifest, settings.metrics_dir)
    metrics.model_loaded(load_seconds)

    middleware: list[object] = [RequestLogger(RequestLog(log_stream), metrics)]
    if settings.api_keys:
        protected = ("/v1/", "/metrics") if settings.metrics_auth else ("/v1/",)
        middleware.append(ApiKeyAuth(settings.api_keys, protected))
    app = falcon.App(middleware=middleware)
    json_handler = JSONHandler(dumps=orjson.dumps, loads=orjson.loads)
    app.req_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.set_error_serializer(serialize_error)
    app.add_error_handler(Exception, handle_unexpected)

    classifier = manifest.output.task == "classification"
    request_schema = RequestSchema(manifest.input_schema, settings.max_instances, classifier)
    predict = PredictResource(served, request_schema, metrics, settings.max_body_bytes)
    app.add_route("/v1/predict", predict)
    app.add_route("/v1/model", ModelResource(served))
    health = HealthResource(served)
    app.add_route("/health/live", health, suffix="live")
    app.add_route("/health/ready", health, suffix="ready")
    app.add_route("/metrics", MetricsResource(metrics))
    document = build_document(
        manifest,
        request_schema.pydantic_model,
        api_keys=bool(settings.api_keys),
        metrics_auth=settings.metrics_auth,
        max_body_bytes=settings.max_body_bytes,
    )
    app.add_route("/openapi.json", OpenApiResource(document))
    docs = DocsResource(manifest.name)
    app.add_route("/docs", docs)
    app.add_route("/docs/{asset}", docs, suffix="asset")
    return app


def _load_model(settings: Settings) -> registry.LoadedModel[Predictor]:
    started = time.perf_counter()
    try:
        served, choice = registry.load_chosen(
            settings.models_dir,
            settings.model_name,
            settings.model_version,
            Predictor,
            settings.pyproject,
            configured_by=settings.model_version_from,
        )
    except registry.RegistryError as exc:
        logger.critical("cannot load the model: %s", exc)
        raise
    logger.info(
        "model loaded",
        extra={
            "model_name": served.manifest.name,
            "model_version": served.manifest.version,
            "models_dir": str(settings.models_dir),
            "chosen_by": choice.source,
            "load_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return served
