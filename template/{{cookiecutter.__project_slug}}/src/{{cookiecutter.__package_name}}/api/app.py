"""The application factory."""

from __future__ import annotations

import logging
import time

import falcon
import orjson
from falcon.media import JSONHandler

from ..logging import configure_logging
from ..model import registry
from ..model.predictor import Predictor
from ..settings import Settings
from .errors import handle_unexpected, serialize_error
from .middleware import RequestLogger
from .resources import HealthResource, ModelResource, PredictResource
from .schemas import RequestSchema

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> falcon.App:
    """Build the WSGI application serving the model that ``settings`` select.

    Logging is configured first; the model is then loaded once, after its artifact's
    SHA-256 is checked against its manifest. A model that cannot be loaded is an error
    here, so a server with ``need-app`` refuses to start rather than serve nothing.
    """
    settings = settings or Settings()
    configure_logging(settings.log_level)
    served = _load_model(settings)

    app = falcon.App(middleware=[RequestLogger()])
    json_handler = JSONHandler(dumps=orjson.dumps, loads=orjson.loads)
    app.req_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    app.set_error_serializer(serialize_error)
    app.add_error_handler(Exception, handle_unexpected)

    request_schema = RequestSchema(served.manifest.input_schema, settings.max_instances)
    app.add_route("/v1/predict", PredictResource(served, request_schema))
    app.add_route("/v1/model", ModelResource(served))
    health = HealthResource(served)
    app.add_route("/health/live", health, suffix="live")
    app.add_route("/health/ready", health, suffix="ready")
    return app


def _load_model(settings: Settings) -> registry.LoadedModel[Predictor]:
    started = time.perf_counter()
    try:
        served = registry.load(
            settings.models_dir, settings.model_name, settings.model_version, Predictor
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
            "load_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return served
