"""Request and response shapes, built at start-up from the manifest's input schema.

A request is ``{"instances": [{<feature>: <value>, ...}, ...]}``. Validation is
strict: every feature is required, unknown ones are refused, numbers must be JSON
numbers (not strings, not NaN or infinity), categorical values must be allowed ones.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, create_model

from ..model.schema import Feature, InputSchema

_NUMBER = Annotated[float, Field(strict=True, allow_inf_nan=False)]
_INTEGER = Annotated[int, Field(strict=True)]
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
            **{
                attribute: (_field_type(feature), Field(alias=feature.name))
                for attribute, feature in zip(self._attributes, schema.features, strict=True)
            },
        )
        instances = Annotated[list[instance], Field(min_length=1, max_length=max_instances)]
        self.pydantic_model: type[BaseModel] = create_model(
            "PredictRequest", __config__=_FORBID_EXTRA, instances=(instances, ...)
        )
        self._dtype = schema.dtype

    def parse(self, body: bytes) -> np.ndarray:
        """The instances of a JSON body as rows in schema order; `ValidationError` if invalid."""
        request: Any = self.pydantic_model.model_validate_json(body)
        attributes = self._attributes
        rows = [[getattr(item, name) for name in attributes] for item in request.instances]
        return np.array(rows, dtype=self._dtype)


def _field_type(feature: Feature) -> Any:
    if feature.type == "string":
        return Literal[feature.allowed]
    return _INTEGER if feature.type == "integer" else _NUMBER
