"""A model's input schema, as its manifest states it: the features, their types, an example.

The manifest's `input_schema` is `{"features": [...], "example": {...}}`; each feature is
`{"name", "type": "number" | "integer" | "string", "allowed": [...] | null,
"nullable": bool}` (`nullable` may be absent, meaning false).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from mlprod_cli.errors import UserError

Kind = Literal["number", "integer", "string"]
KINDS: tuple[Kind, ...] = ("number", "integer", "string")
Value = float | int | str | None


class SchemaError(UserError):
    """A manifest whose input schema mlprod cannot use."""


@dataclass(frozen=True)
class Feature:
    """One input the model takes."""

    name: str
    kind: Kind
    allowed: tuple[Value, ...] | None = None
    """The only values the feature takes, when the schema lists them."""
    nullable: bool = False


@dataclass(frozen=True)
class InputSchema:
    """The features in the model's order, and the manifest's example instance."""

    features: tuple[Feature, ...]
    example: Mapping[str, Value]

    @property
    def names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def example_row(self) -> dict[str, Value]:
        return {name: self.example[name] for name in self.names}

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], where: str) -> InputSchema:
        """The schema of `manifest` (named `where` in messages), checked."""
        try:
            schema = manifest["input_schema"]
            features = tuple(_feature(item) for item in schema["features"])
            example = dict(schema["example"])
            if not features:
                raise ValueError("its input schema lists no features")
            missing = [f.name for f in features if f.name not in example]
            if missing:
                raise ValueError(f"its example instance lacks {', '.join(missing)}")
        except (ValueError, KeyError, TypeError) as error:
            detail = f"no {error}" if isinstance(error, KeyError) else str(error)
            raise SchemaError(f"{where} is not a usable model manifest: {detail}") from None
        return cls(features=features, example=example)


def _feature(item: Any) -> Feature:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise ValueError(f"a feature is not an object with a name: {item!r}")
    name, kind = item["name"], item.get("type")
    if kind not in KINDS:
        raise ValueError(f"feature {name!r} has type {kind!r}, not one of {', '.join(KINDS)}")
    allowed = item.get("allowed")
    if allowed is not None and (isinstance(allowed, str) or not isinstance(allowed, Sequence)):
        raise ValueError(f"feature {name!r}: allowed must be a list of values or null")
    return Feature(
        name=name,
        kind=cast(Kind, kind),
        allowed=tuple(allowed) if allowed is not None else None,
        nullable=bool(item.get("nullable", False)),
    )
