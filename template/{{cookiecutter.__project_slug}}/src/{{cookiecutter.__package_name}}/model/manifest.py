"""The manifest: everything known about one trained version of a model, in a JSON file.

A manifest sits beside its artifact in the models directory (``<name>-<version>.json``)
and records the data, split, parameters, metrics, thresholds, input schema, output and
the artifact's SHA-256 (and the compiled artifact's, when there is one). This module
reads and writes it; `registry` decides where.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ManifestError
from .profile import Profile
from .schema import InputSchema
from .thresholds import Thresholds, ThresholdsError

MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class TrainingData:
    """The data file a model was trained on."""

    file: str
    sha256: str
    rows: int
    dvc_md5: str | None = None
    """The hash DVC tracks the file by, when it is under DVC (see `tracking.data_version`)."""


@dataclass(frozen=True)
class Split:
    """How the data was split into training and held-out evaluation rows."""

    seed: int
    test_size: float
    train_rows: int
    test_rows: int


@dataclass(frozen=True)
class Output:
    """What the model predicts."""

    task: str
    classes: list[Any]


@dataclass(frozen=True)
class Artifact:
    """The model file, by name within the models directory, and its SHA-256."""

    file: str
    sha256: str


@dataclass(frozen=True)
class Tolerance:
    """How far a compiled answer may be from the native one: ``absolute + relative * |native|``."""

    absolute: float
    relative: float


@dataclass(frozen=True)
class CompiledArtifact:
    """The compiled model (ONNX, run by ONNX Runtime), its SHA-256 and its equivalence gate."""

    file: str
    sha256: str
    runtime: str
    converter: str
    precision: str
    """The numeric type the model computes in: ``float32`` or ``float64``."""
    tolerance: Tolerance
    rows_checked: int
    """Held-out rows, the example and the schema's edge cases, all answered alike."""
    max_difference: float
    """The largest difference of a probability or value from the native answer."""
    format: str = "onnx"
    opset: dict[str, int] = field(default_factory=dict)
    """The operator sets the file uses, by domain (``ai.onnx``: the standard one);
    empty in manifests written before it was recorded."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompiledArtifact:
        return cls(**{**data, "tolerance": Tolerance(**data["tolerance"])})


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """Everything known about one trained version of a model."""

    manifest_format: int = MANIFEST_FORMAT
    name: str
    version: str
    created_at: str
    framework: str
    framework_version: str
    python_version: str
    git_commit: str | None
    git_dirty: bool | None
    data: TrainingData
    split: Split
    parameters: dict[str, Any]
    metrics: dict[str, float]
    thresholds: dict[str, float] = field(default_factory=dict)
    """The bounds training checked the metrics against (``[tool.mlprod.thresholds]``)."""
    input_schema: InputSchema
    output: Output
    artifact: Artifact
    compiled: CompiledArtifact | None = None
    """The compiled model when one passed the gate (see `compiled`); else None and
    `not_compiled` says why."""
    not_compiled: str | None = None
    profile: Profile | None = None
    """The training data's and held-out predictions' profile, that drift is measured
    against (`profile`); None in manifests written before it."""

    def to_dict(self) -> dict[str, Any]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {
            **fields,
            "data": dataclasses.asdict(self.data),
            "split": dataclasses.asdict(self.split),
            "input_schema": self.input_schema.to_dict(),
            "output": dataclasses.asdict(self.output),
            "artifact": dataclasses.asdict(self.artifact),
            "compiled": None if self.compiled is None else dataclasses.asdict(self.compiled),
            "profile": None if self.profile is None else self.profile.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        return cls(
            **{
                **data,
                "data": TrainingData(**data["data"]),
                "split": Split(**data["split"]),
                "input_schema": InputSchema.from_dict(data["input_schema"]),
                "output": Output(**data["output"]),
                "artifact": Artifact(**data["artifact"]),
                "compiled": None
                if data.get("compiled") is None
                else CompiledArtifact.from_dict(data["compiled"]),
                "profile": None
                if data.get("profile") is None
                else Profile.from_dict(data["profile"]),
            }
        )


def read_manifest(path: Path) -> Manifest:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: manifest not found") from None
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: unreadable manifest: {exc}") from None
    if not isinstance(data, dict) or data.get("manifest_format") != MANIFEST_FORMAT:
        raise ManifestError(f"{path}: not a manifest of format {MANIFEST_FORMAT}")
    try:
        return Manifest.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"{path}: malformed manifest: {exc!r}") from None


def write_manifest(path: Path, manifest: Manifest) -> None:
    text = json.dumps(manifest.to_dict(), indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def recorded_thresholds(path: Path, manifest: Manifest) -> Thresholds:
    """The thresholds training checked ``manifest`` against, as recorded in it."""
    try:
        return Thresholds.from_table(manifest.thresholds, source=f"recorded in {path.name}")
    except ThresholdsError as exc:
        raise ManifestError(f"{path}: {exc}") from None
