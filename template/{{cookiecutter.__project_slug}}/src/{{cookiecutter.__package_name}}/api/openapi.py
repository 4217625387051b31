"""The OpenAPI 3.1 document of the service, built from the models that validate and answer.

The request schema comes from the manifest's input schema (`schemas.RequestSchema`),
the example request from the example instance the manifest keeps from the data set,
and the response schemas from the same pydantic models the tests check answers
against. Nothing here is written by hand twice.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from ..model.manifest import Manifest
from .errors import ERROR_CODES
from .feedback import feedback_operation
from .middleware import API_KEY_HEADER, REQUEST_ID_HEADER
from .schemas import ErrorResponse, Liveness, Readiness, predict_response_model

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{model}"
_JSON = "application/json"


class _Components:
    """Collects the JSON schemas of pydantic models (and the models they nest) by name."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(
        self,
        model: Any,
        name: str,
        mode: Literal["validation", "serialization"] = "serialization",
    ) -> dict[str, str]:
        schema = TypeAdapter(model).json_schema(mode=mode, ref_template=_REF)
        self.schemas.update(schema.pop("$defs", {}))
        self.schemas[name] = schema
        return {"$ref": _REF.format(model=name)}


def build_document(
    manifest: Manifest,
    request_model: type[BaseModel],
    *,
    api_keys: bool,
    metrics_auth: bool,
    max_body_bytes: int,
    max_instances: int,
) -> dict[str, Any]:
    """The OpenAPI document for the model in ``manifest``, as served at ``/openapi.json``."""
    components = _Components()
    error = components.ref(ErrorResponse, "ErrorResponse")
    responses = _Responses(error)
    secured: list[dict[str, list[str]]] | None = (
        [{"bearerAuth": []}, {"apiKeyAuth": []}] if api_keys else None
    )

    predict = {
        "operationId": "predict",
        "summary": "Predict one or many instances",
        "description": (
            "Every feature of the model's input schema is required for each instance "
            "(`null` is taken where the schema says `nullable`: the model imputes it); "
            "unknown features are refused. A classifier also answers each class's "
            'probability when the request says `"return_probabilities": true`. '
            f"Bodies over {max_body_bytes} bytes are refused."
        ),
        "tags": ["model"],
        "parameters": [{"$ref": "#/components/parameters/RequestId"}],
        "requestBody": {
            "required": True,
            "content": {
                _JSON: {
                    "schema": components.ref(request_model, "PredictRequest", "validation"),
                    "example": {"instances": [manifest.input_schema.example]},
                }
            },
        },
        "responses": {
            "200": responses.ok(
                "One prediction per instance, in order",
                components.ref(predict_response_model(manifest), "PredictResponse"),
            ),
            "400": responses.error("The body is not JSON (`malformed_json`)"),
            "408": responses.error("The body did not arrive in time (`request_timeout`)"),
            "413": responses.error("The body is larger than the limit (`payload_too_large`)"),
            "415": responses.error("Content-Type is not application/json"),
            "422": responses.error(
                "A field is missing, unknown or of the wrong type, or too many instances "
                "(`invalid_request`, the message names the field); or the model cannot take "
                "the input (`invalid_input`)"
            ),
            "500": responses.error("An unexpected failure, logged with the request id"),
        },
    }
    model = {
        "operationId": "getModel",
        "summary": "The manifest of the model being served",
        "tags": ["model"],
        "parameters": [{"$ref": "#/components/parameters/RequestId"}],
        "responses": {
            "200": responses.ok(
                "Its manifest: version, metrics, input schema, hashes",
                components.ref(Manifest, "Manifest"),
            )
        },
    }
    feedback = feedback_operation(manifest, responses, max_instances)
    for operation in (predict, model, feedback):
        _secure(operation, secured, responses)
    metrics = {
        "operationId": "getMetrics",
        "summary": "Prometheus metrics, added up across worker processes",
        "tags": ["operations"],
        "responses": {
            "200": {
                "description": "The Prometheus text format",
                "headers": responses.headers,
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    }
    if metrics_auth:
        _secure(metrics, secured, responses)

    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": manifest.name,
            "version": manifest.version,
            "description": (
                f"Predictions from {manifest.name} {manifest.version}. The request schema is "
                "the model's input schema; `GET /v1/model` returns the whole manifest. Every "
                'error answers `{"error": {"code", "message", "request_id"}}`; codes: '
                + ", ".join(f"`{code}`" for code in ERROR_CODES)
                + "."
            ),
        },
        "paths": {
            "/v1/predict": {"post": predict},
            "/v1/model": {"get": model},
            "/v1/feedback": {"post": feedback},
            "/health/live": {
                "get": {
                    "operationId": "live",
                    "summary": "Liveness: the process answers",
                    "tags": ["operations"],
                    "responses": {
                        "200": responses.ok("Alive", components.ref(Liveness, "Liveness"))
                    },
                }
            },
            "/health/ready": {
                "get": {
                    "operationId": "ready",
                    "summary": "Readiness: a model is loaded",
                    "tags": ["operations"],
                    "responses": {
                        "200": responses.ok("Ready", components.ref(Readiness, "Readiness")),
                        "503": responses.error(
                            "No model loaded yet, or the served artifact changed on disk "
                            "(`not_ready`)"
                        ),
                    },
                }
            },
            "/metrics": {"get": metrics},
        },
        "components": {
            "schemas": components.schemas,
            "parameters": {
                "RequestId": {
                    "name": REQUEST_ID_HEADER,
                    "in": "header",
                    "required": False,
                    "description": "Kept and echoed when it is 1 to 128 visible ASCII characters; "
                    "otherwise one is generated.",
                    "schema": {"type": "string"},
                }
            },
            "headers": {
                "RequestId": {
                    "description": "The request's id, as in its log line and error body",
                    "schema": {"type": "string"},
                }
            },
        },
    }
    if secured:
        document["components"]["securitySchemes"] = {
            "bearerAuth": {"type": "http", "scheme": "bearer"},
            "apiKeyAuth": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER},
        }
    return document


class _Responses:
    """Response objects, each with the ``X-Request-ID`` header every answer carries."""

    def __init__(self, error_schema: dict[str, str]) -> None:
        self._error = error_schema
        self.headers = {REQUEST_ID_HEADER: {"$ref": "#/components/headers/RequestId"}}

    def ok(self, description: str, schema: dict[str, str]) -> dict[str, Any]:
        return {
            "description": description,
            "headers": self.headers,
            "content": {_JSON: {"schema": schema}},
        }

    def error(self, description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "description": description,
            "headers": {**self.headers, **(headers or {})},
            "content": {_JSON: {"schema": self._error}},
        }


def _secure(
    operation: dict[str, Any], secured: list[dict[str, list[str]]] | None, responses: _Responses
) -> None:
    """Mark ``operation`` as needing an API key and document its 401, when keys are set."""
    if secured is None:
        return
    operation["security"] = secured
    operation["responses"]["401"] = responses.error(
        "The API key is missing or wrong (`unauthorized`)",
        {"WWW-Authenticate": {"schema": {"type": "string"}}},
    )
