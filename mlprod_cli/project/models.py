"""A project's trained models: the versions in its models folder and their manifests.

mlprod reads a manifest (`models/<name>-<version>.json`) as plain JSON, never through
the project's code, so that a missing model or version is reported before any
interpreter starts. The naming rule is the project registry's: `<name>-<semver>.json`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlprod_cli.errors import UserError
from mlprod_cli.project.config import Project
from mlprod_cli.project.schema import InputSchema


class ManifestError(UserError):
    """A manifest mlprod cannot use: missing, unreadable, or without what is asked of it."""


@dataclass(frozen=True)
class TrainedModel:
    """One trained version of the project's model: its manifest, as the registry wrote it."""

    name: str
    version: str
    manifest_path: Path
    manifest: Mapping[str, Any]

    @property
    def schema(self) -> InputSchema:
        """The manifest's input schema; a `ManifestError` when it is not usable."""
        return InputSchema.from_manifest(self.manifest, str(self.manifest_path))

    @property
    def artifact_path(self) -> Path:
        """The artifact the manifest names, in the manifest's folder."""
        return self.manifest_path.parent / Path(str(self._artifact("file"))).name

    @property
    def compiled_path(self) -> Path | None:
        """The compiled (ONNX) artifact the manifest lists, if any, in the manifest's folder."""
        entry = self.manifest.get("compiled")
        if not isinstance(entry, Mapping) or "file" not in entry:
            return None
        return self.manifest_path.parent / Path(str(entry["file"])).name

    @property
    def files(self) -> list[Path]:
        """Every file of the version: its artifacts (native, then compiled) and manifest."""
        compiled = self.compiled_path
        artifacts = [self.artifact_path] + ([] if compiled is None else [compiled])
        return [*artifacts, self.manifest_path]

    def verified_artifact(self) -> Path:
        """The artifact, once its SHA-256 (and the compiled artifact's) match the manifest's."""
        artifact = self.artifact_path
        self._verify(artifact, self._artifact("sha256"))
        compiled = self.compiled_path
        if compiled is not None:
            self._verify(compiled, self.manifest["compiled"].get("sha256"))
        return artifact

    def _verify(self, artifact: Path, expected: Any) -> None:
        if not artifact.is_file():
            raise ManifestError(f"{artifact} is missing (its manifest is {self.manifest_path})")
        if sha256_file(artifact) != expected:
            raise ManifestError(
                f"{artifact} does not match the SHA-256 in {self.manifest_path}; it changed "
                "after training: train the model again under a new version (`mlprod bump patch`)"
            )

    def _artifact(self, key: str) -> Any:
        entry = self.manifest.get("artifact")
        if not isinstance(entry, Mapping) or key not in entry:
            raise ManifestError(
                f"{self.manifest_path} is not a usable model manifest: no artifact {key}"
            )
        return entry[key]


def trained_versions(project: Project) -> list[Any]:
    """Every version of the project's model with a manifest, newest first (semver.Version)."""
    import semver

    prefix = f"{project.model_name}-"
    versions = []
    for path in project.models_dir.glob(f"{prefix}*.json"):
        stem = path.stem.removeprefix(prefix)
        if semver.Version.is_valid(stem):
            versions.append(semver.Version.parse(stem))
    return sorted(versions, reverse=True)


def find_trained_model(
    project: Project, requested: str | None = None, option: str | None = "--model-version"
) -> TrainedModel:
    """The trained version `requested`, or `[tool.mlprod] model_version`.

    `option` names the command's option that chooses another version, for the messages
    (None when the command has none).
    """
    import semver

    name = project.model_name
    trained = [str(version) for version in trained_versions(project)]
    if not trained:
        raise ManifestError(
            f"no trained {name} model in {project.models_dir}; "
            f"train one first (`{project.slug} train`)"
        )
    listed = ", ".join(trained)
    if requested is None:
        version = project.model_version
        if version not in trained:
            other = f" or pass {option}" if option else ""
            raise ManifestError(
                f"{name} {version} (model_version in pyproject.toml) is not trained; "
                f"train it (`{project.slug} train`){other} (trained: {listed})"
            )
    else:
        if not semver.Version.is_valid(requested):
            raise UserError(
                f"{option} {requested!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.4.0)"
            )
        version = requested
        if version not in trained:
            raise ManifestError(
                f"{option} {version}: {name} {version} is not trained (trained: {listed})"
            )
    path = project.manifest_path(version)
    return TrainedModel(
        name=name, version=version, manifest_path=path, manifest=read_manifest(path)
    )


def read_manifest(path: Path) -> Mapping[str, Any]:
    """The manifest at `path` as a JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ManifestError(f"cannot read {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise ManifestError(f"{path} is not a usable model manifest: {error}") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{path} is not a usable model manifest: not a JSON object")
    return data


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
