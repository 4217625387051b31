"""The routes: predictions, the served model's manifest, and health probes."""

from __future__ import annotations

from collections import Counter

import falcon
import orjson
from pydantic import ValidationError

from ..model.base import InvalidInputError, Model
from ..model.registry import LoadedModel
from .errors import ApiError, from_validation_error
from .schemas import RequestSchema


class PredictResource:
    """``POST /v1/predict``: ``{"instances": [...]}`` in, ``{"predictions": [...], ...}`` out."""

    def __init__(self, served: LoadedModel[Model], request_schema: RequestSchema) -> None:
        self._model = served.model
        self._request_schema = request_schema
        name, version = served.manifest.name, served.manifest.version
        self._identity = {"name": name, "version": version}
        self._log_identity = {"model_name": name, "model_version": version}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        log_fields = req.context.log_fields
        log_fields.update(self._log_identity)
        media_type = (req.content_type or "").partition(";")[0].strip().lower()
        if media_type != falcon.MEDIA_JSON:
            raise ApiError(
                415,
                "unsupported_media_type",
                f"Content-Type must be {falcon.MEDIA_JSON}, got {req.content_type or 'none'}",
            )
        try:
            features = self._request_schema.parse(req.bounded_stream.read())
        except ValidationError as exc:
            raise from_validation_error(exc) from None
        log_fields["instances"] = len(features)
        try:
            predictions = self._model.predict(features).tolist()
        except InvalidInputError as exc:
            raise ApiError(422, "invalid_input", str(exc)) from None
        log_fields["predictions"] = dict(Counter(predictions))
        resp.media = {"predictions": predictions, "model": self._identity}


class ModelResource:
    """``GET /v1/model``: the manifest of the model being served."""

    def __init__(self, served: LoadedModel[Model]) -> None:
        self._body = orjson.dumps(served.manifest.to_dict())

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._body


class HealthResource:
    """``GET /health/live`` (the process answers) and ``/health/ready`` (a model is loaded)."""

    def __init__(self, served: LoadedModel[Model] | None) -> None:
        self._served = served

    def on_get_live(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "alive"}

    def on_get_ready(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._served is None:
            raise ApiError(503, "not_ready", "no model loaded yet")
        manifest = self._served.manifest
        resp.media = {
            "status": "ready",
            "model": {"name": manifest.name, "version": manifest.version},
        }
