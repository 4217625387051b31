"""Request and response shapes, built at start-up from the manifest.

A request is ``{"instances": [{<feature>: <value>, ...}, ...]}``. Validation is
strict: every feature is required, unknown ones are refused, numbers must be JSON
numbers (not strings, not NaN or infinity, at most 1e15 in magnitude), categorical
values must be allowed ones.
The same pydantic models give the OpenAPI document its schemas, so the document
cannot drift from what the service accepts and answers.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, create_model

from ..model.registry import Manifest
from ..model.schema import Feature, InputSchema
from .errors import ERROR_CODES

# Features go into a float64 matrix. Within 1e15 it holds every integer exactly (a JSON
# integer cannot round past the bound); near the float limit, values overflow when the
# model scales them.
MAGNITUDE_LIMIT = 10**15
_NUMBER = Annotated[
    float,
    Field(strict=True, allow_inf_nan=False, ge=-MAGNITUDE_LIMIT, le=MAGNITUDE_LIMIT),
]
_INTEGER = Annotated[int, Field(strict=True, ge=-MAGNITUDE_LIMIT, le=MAGNITUDE_LIMIT)]
_FORBID_EXTRA = ConfigDict(extra="forbid")


class RequestSchema:
    """Validates a predict request body and turns it into the model's feature matrix."""

    def __init__(self, schema: InputSchema, max_instances: int) -> None:
        # Fields get positional names (f0, f1, ...) and the features' names as aliases,
        # so no feature name can collide with pydantic's own attributes.
        self._attributes = tuple(f"f{i}" for i in range(len(schema.features)))
        instance = create_model(
            "Instance",
            __config__=_FORBID_EXTRA,
            __doc__="One instance to predict: every feature of the model's input schema.",
            **{
                attribute: (_field_type(feature), Field(alias=feature.name))
                for attribute, feature in zip(self._attributes, schema.features, strict=True)
            },
        )
        instances = Annotated[list[instance], Field(min_length=1, max_length=max_instances)]
        self.pydantic_model: type[BaseModel] = create_model(
            "PredictRequest",
            __config__=_FORBID_EXTRA,
            __doc__="Instances to predict, answered in the same order.",
            instances=(instances, ...),
        )
        self._dtype = schema.dtype

    def parse(self, body: bytes) -> np.ndarray:
        """The instances of a JSON body as rows in schema order; `ValidationError` if invalid."""
        request: Any = self.pydantic_model.model_validate_json(body)
        attributes = self._attributes
        rows = [[getattr(item, name) for name in attributes] for item in request.instances]
        return np.array(rows, dtype=self._dtype)


class ModelIdentity(BaseModel):
    """The model that answered: its name and semantic version."""

    name: str
    version: str


def predict_response_model(manifest: Manifest) -> type[BaseModel]:
    """``{"predictions": [...], "model": {...}}``: one class label (or value) per instance."""
    output = manifest.output
    if output.task == "classification" and output.classes:
        prediction: Any = Literal[tuple(output.classes)]
    else:
        prediction = float
    return create_model(
        "PredictResponse",
        __doc__="One prediction per instance, in the order of the request.",
        predictions=(list[prediction], ...),
        model=(ModelIdentity, ...),
    )


class ErrorDetail(BaseModel):
    """What went wrong: a stable code to match on, a message for people, the request id."""

    code: Literal[ERROR_CODES]
    message: str
    request_id: str


class ErrorResponse(BaseModel):
    """Every error answer, whatever its status."""

    error: ErrorDetail


class Liveness(BaseModel):
    """The process answers."""

    status: Literal["alive"]


class Readiness(BaseModel):
    """A model is loaded and served."""

    status: Literal["ready"]
    model: ModelIdentity


def _field_type(feature: Feature) -> Any:
    if feature.type == "string":
        return Literal[feature.allowed]
    return _INTEGER if feature.type == "integer" else _NUMBER
