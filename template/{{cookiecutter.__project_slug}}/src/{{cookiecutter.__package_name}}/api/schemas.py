"""Request and response shapes, built at start-up from the manifest.

A request is ``{"instances": [{<feature>: <value>, ...}, ...]}``, and for a classifier
optionally ``"return_probabilities": true``. Validation is strict: every feature is
required, unknown ones are refused, numbers must be JSON numbers (not strings, not NaN
or infinity, at most 1e15 in magnitude; an integer feature also takes an integral
number such as ``127.0``, as pandas-built clients send it), categorical values must be
allowed ones, and ``null`` is taken only for the features the schema marks ``nullable``
(the model imputes them).
The same pydantic models give the OpenAPI document its schemas, so the document
cannot drift from what the service accepts and answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
)
from pydantic_core import PydanticCustomError

from ..model.manifest import Manifest
from ..model.schema import MISSING_STRING, Feature, InputSchema
from .errors import ERROR_CODES

# Features go into a float64 matrix. Within 1e15 it holds every integer exactly (a JSON
# integer cannot round past the bound); near the float limit, values overflow when the
# model scales them.
MAGNITUDE_LIMIT = 10**15
LISTED_CATEGORIES = 5
"""Allowed values quoted in an error; the rest are counted (GET /v1/model lists all)."""
_NUMBER = Annotated[
    float,
    Field(strict=True, allow_inf_nan=False, ge=-MAGNITUDE_LIMIT, le=MAGNITUDE_LIMIT),
]


def _integral(value: Any) -> Any:
    """``127.0`` -> ``127``: an integral JSON number, as pandas writes integer columns."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_INTEGER = Annotated[
    int,
    Field(strict=True, ge=-MAGNITUDE_LIMIT, le=MAGNITUDE_LIMIT),
    BeforeValidator(_integral),
]
_FORBID_EXTRA = ConfigDict(extra="forbid")


class RequestSchema:
    """Validates a predict request body and turns it into the model's feature matrix."""

    def __init__(self, schema: InputSchema, max_instances: int, classifier: bool) -> None:
        # Fields get positional names (f0, f1, ...) and the features' names as aliases,
        # so no feature name can collide with pydantic's own attributes.
        self._attributes = tuple(f"f{i}" for i in range(len(schema.features)))
        features: dict[str, Any] = {
            attribute: (_field_type(feature), Field(alias=feature.name))
            for attribute, feature in zip(self._attributes, schema.features, strict=True)
        }
        instance = create_model(
            "Instance",
            __config__=_FORBID_EXTRA,
            __doc__="One instance to predict: every feature of the model's input schema "
            "(null only where the schema says nullable).",
            **features,
        )
        self.instance_model: type[BaseModel] = instance
        instances: Any = Annotated[list[instance], Field(min_length=1, max_length=max_instances)]
        fields: dict[str, Any] = {"instances": (instances, ...)}
        if classifier:
            fields["return_probabilities"] = (
                bool,
                Field(False, strict=True, description="Also answer each class's probability"),
            )
        self.pydantic_model: type[BaseModel] = create_model(
            "PredictRequest",
            __config__=_FORBID_EXTRA,
            __doc__="Instances to predict, answered in the same order.",
            **fields,
        )
        self._dtype = schema.dtype
        # Where a null becomes the model's missing value: NaN for numbers, "" for strings.
        self._nulls = tuple(
            (index, MISSING_STRING if schema.features[index].type == "string" else np.nan)
            for index in schema.nullable
        )

    def parse(self, body: bytes) -> tuple[np.ndarray, bool]:
        """The instances of a JSON body as rows in schema order, and whether probabilities
        were asked for; `ValidationError` if the body is invalid."""
        request: Any = self.pydantic_model.model_validate_json(body)
        probabilities = getattr(request, "return_probabilities", False)
        return self.matrix(request.instances), probabilities

    def matrix(self, instances: Sequence[BaseModel]) -> np.ndarray:
        """Validated instances (`instance_model`) as rows in schema order, nulls as the
        model's missing values: the one way the API and batch scoring build the matrix."""
        attributes = self._attributes
        rows = [[getattr(item, name) for name in attributes] for item in instances]
        if self._nulls:
            for row in rows:
                for index, missing in self._nulls:
                    if row[index] is None:
                        row[index] = missing
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
    fields: dict[str, Any] = {
        "predictions": (list[prediction], ...),
        "model": (ModelIdentity, ...),
    }
    fields["from_store"] = (
        list[bool] | None,
        Field(
            None,
            description="Per instance, whether its answer came from the prediction store "
            "(written by predict-batch --to) rather than the model; only when the service "
            "has a PREDICTION_STORE",
        ),
    )
    if output.task == "classification":
        fields["probabilities"] = (
            list[dict[str, float]] | None,
            Field(
                None,
                description='Per instance, each class\'s probability ({"class": p, ...}, '
                'summing to 1); only when the request says "return_probabilities": true',
            ),
        )
    return create_model(
        "PredictResponse",
        __doc__="One prediction per instance, in the order of the request.",
        **fields,
    )


class ErrorDetail(BaseModel):
    """What went wrong: a stable code to match on, a message for people, the request id."""

    code: str = Field(json_schema_extra={"enum": list(ERROR_CODES)})
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
        kind = _category(feature.allowed or ())
    else:
        kind = _INTEGER if feature.type == "integer" else _NUMBER
    return kind | None if feature.nullable else kind


def _category(allowed: tuple[str, ...]) -> Any:
    """A string among ``allowed``; the error quotes a few of them and counts the rest."""
    accepted = frozenset(allowed)
    quoted = ", ".join(repr(value) for value in allowed[:LISTED_CATEGORIES])
    more = len(allowed) - LISTED_CATEGORIES
    expected = (
        f"one of {quoted} and {more} more ({len(allowed)} allowed; GET /v1/model lists them)"
        if more > 0
        else f"one of {quoted}"
    )

    def check(value: str) -> str:
        if value not in accepted:
            raise PydanticCustomError(
                "category", "Input should be {expected}", {"expected": expected}
            )
        return value

    return Annotated[
        str,
        Field(strict=True),
        AfterValidator(check),
        WithJsonSchema({"type": "string", "enum": list(allowed)}),
    ]
