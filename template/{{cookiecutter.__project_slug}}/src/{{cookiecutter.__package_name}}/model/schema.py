"""The input schema: which features a model takes, in which order, of which types.

It is recorded in every manifest and is the API's contract: request validation is
built from it, so a model trained on new features needs no API change. In the feature
matrix a missing value is NaN in a numeric column and ``""`` in a string one (`MISSING_STRING`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

FeatureType = Literal["number", "integer", "string"]
Value = float | int | str

FEATURE_TYPES: tuple[FeatureType, ...] = get_args(FeatureType)
MISSING_STRING = ""
"""A missing categorical value. A string, not NaN, so that the imputer sees one type
(and the pipeline can be converted to ONNX, whose string imputer needs a string)."""


@dataclass(frozen=True)
class Feature:
    """One input feature. ``allowed`` lists the values of a ``string`` (categorical) one.

    ``nullable`` features had gaps in the training data: the model imputes them, so a
    request may give ``null`` for them.
    """

    name: str
    type: FeatureType
    allowed: tuple[str, ...] | None = None
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.type not in FEATURE_TYPES:
            raise ValueError(f"feature {self.name!r}: unknown type {self.type!r}")
        if (self.type == "string") != (self.allowed is not None):
            raise ValueError(f"feature {self.name!r}: only string features list allowed values")


@dataclass(frozen=True)
class InputSchema:
    """The ordered features of a model, with one example instance taken from its data."""

    features: tuple[Feature, ...]
    example: dict[str, Value | None]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features)

    @property
    def categorical(self) -> tuple[int, ...]:
        """Column indices of the string features."""
        return tuple(i for i, feature in enumerate(self.features) if feature.type == "string")

    @property
    def nullable(self) -> tuple[int, ...]:
        """Column indices of the features that may be missing (``null``)."""
        return tuple(i for i, feature in enumerate(self.features) if feature.nullable)

    @property
    def dtype(self) -> np.dtype:
        """The feature matrix's dtype: float when every feature is numeric, else object."""
        return np.dtype(object) if self.categorical else np.dtype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": [
                {
                    "name": f.name,
                    "type": f.type,
                    "allowed": None if f.allowed is None else [*f.allowed],
                    "nullable": f.nullable,
                }
                for f in self.features
            ],
            "example": dict(self.example),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputSchema:
        features = tuple(
            Feature(
                name=item["name"],
                type=item["type"],
                allowed=None if item.get("allowed") is None else tuple(item["allowed"]),
                nullable=bool(item.get("nullable", False)),
            )
            for item in data["features"]
        )
        return cls(features=features, example=dict(data["example"]))
