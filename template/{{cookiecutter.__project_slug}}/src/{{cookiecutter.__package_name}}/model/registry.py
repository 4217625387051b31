"""The artifact registry: versioned model files and their manifests, side by side.

Each version of a model is two or three files in the models directory::

    <name>-<version><suffix>    the artifact, e.g. iris-classifier-1.2.0.skops
    <name>-<version>.onnx       the compiled artifact, when it passed its gate (`compiled`)
    <name>-<version>.json       its manifest

Versions are semantic versions. A version exists once its manifest exists; it is
never overwritten. Before an artifact is deserialized it must pass two gates: its
SHA-256 matches the manifest (integrity: every artifact the manifest lists, native and
compiled), and the manifest's metrics meet the thresholds (validity, see `thresholds`).
Which artifact a server runs is ``MODEL_RUNTIME`` (`load_served`).

The manifest itself is `manifest`, the hash check `integrity`, the exceptions `errors`;
which version a server loads is `selection`. Their public names are importable from
here too (``registry.Manifest``, ``registry.sha256_file``...), as in projects made
before the split (all but the serving choice, which builds on this module).
"""

from __future__ import annotations

import platform
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Generic, Literal, TypeVar, get_args

import semver

from .base import Model, ModelT, UnsafeModelFileError
from .compiled import TOLERANCE, Compilation, CompiledModel
from .errors import (
    IntegrityError,
    ManifestError,
    RegistryError,
    UnsafeArtifactError,
    ValidityError,
    VersionExistsError,
    VersionNotFoundError,
)
from .integrity import sha256_file, verify_artifact
from .manifest import (
    MANIFEST_FORMAT,
    Artifact,
    CompiledArtifact,
    Manifest,
    Output,
    Split,
    Tolerance,
    TrainingData,
    read_manifest,
    recorded_thresholds,
    write_manifest,
)
from .profile import Profile
from .schema import InputSchema
from .thresholds import Thresholds

__all__ = [
    "LATEST",
    "MANIFEST_FORMAT",
    "Artifact",
    "GitState",
    "IntegrityError",
    "LoadedModel",
    "Manifest",
    "ManifestError",
    "Output",
    "RegistryError",
    "Split",
    "TrainingData",
    "UnsafeArtifactError",
    "ValidityError",
    "VersionExistsError",
    "VersionNotFoundError",
    "artifact_path",
    "check",
    "compiled_path",
    "ensure_new_version",
    "git_state",
    "list_versions",
    "load",
    "load_served",
    "manifest_path",
    "parse_version",
    "read_manifest",
    "recorded_thresholds",
    "resolve_version",
    "save",
    "sha256_file",
    "staging_path",
    "verify_artifact",
    "write_manifest",
]

LATEST = "latest"
Runtime = Literal["auto", "onnx", "native"]
RUNTIMES: tuple[Runtime, ...] = get_args(Runtime)
"""``MODEL_RUNTIME``: ``auto`` serves the compiled model when the version has one (it
passed its gate), else the native one; ``onnx`` and ``native`` insist."""


LoadedT_co = TypeVar("LoadedT_co", bound=Model, covariant=True)


@dataclass(frozen=True)
class LoadedModel(Generic[LoadedT_co]):
    """A model read from the registry, with the manifest it was verified against."""

    model: LoadedT_co
    manifest: Manifest
    runtime: str = "native"
    """Which runtime answers: ``native`` (the framework's own) or ``onnx`` (ONNX Runtime)."""
    artifact: str = ""
    """The file the model was loaded from, by name in the models directory."""


@dataclass(frozen=True)
class GitState:
    """The commit the working tree is at and whether it has uncommitted changes."""

    commit: str | None
    dirty: bool | None


def parse_version(version: str) -> semver.Version:
    """Parse a semantic version, with an error that says what was expected."""
    try:
        return semver.Version.parse(version)
    except (TypeError, ValueError):
        raise RegistryError(
            f"{version!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.4.0)"
        ) from None


def manifest_path(models_dir: Path, name: str, version: str | semver.Version) -> Path:
    return models_dir / f"{name}-{version}.json"


def artifact_path(
    models_dir: Path, name: str, version: str | semver.Version, model_type: type[Model]
) -> Path:
    return models_dir / f"{name}-{version}{model_type.suffix}"


def compiled_path(models_dir: Path, name: str, version: str | semver.Version) -> Path:
    return models_dir / f"{name}-{version}{CompiledModel.suffix}"


def list_versions(models_dir: Path, name: str) -> list[semver.Version]:
    """Every version of ``name`` that has a manifest, newest first (semver precedence)."""
    prefix = f"{name}-"
    versions = []
    for path in models_dir.glob(f"{prefix}*.json"):
        try:
            versions.append(semver.Version.parse(path.stem.removeprefix(prefix)))
        except ValueError:
            continue  # another model whose name starts with ours, or a stray file
    return sorted(versions, reverse=True)


def resolve_version(models_dir: Path, name: str, requested: str) -> semver.Version:
    """The version to serve: ``latest`` (the highest release) or an exact version."""
    available = list_versions(models_dir, name)
    if requested == LATEST:
        releases = [version for version in available if version.prerelease is None]
        if not releases:
            raise VersionNotFoundError(
                f"no release version of {name} in {models_dir}{_available(available)}"
            )
        return releases[0]
    version = parse_version(requested)
    if version not in available:
        raise VersionNotFoundError(
            f"{name} {version} not found: no manifest {manifest_path(models_dir, name, version)}"
            f"{_available(available)}"
        )
    return version


def ensure_new_version(models_dir: Path, name: str, version: str, model_type: type[Model]) -> None:
    """Refuse a version that already has an artifact or a manifest."""
    parse_version(version)
    for path in (
        manifest_path(models_dir, name, version),
        artifact_path(models_dir, name, version, model_type),
        compiled_path(models_dir, name, version),
    ):
        if path.exists():
            raise VersionExistsError(
                f"{name} {version} already exists ({path}); artifacts are never overwritten: "
                "bump the model version first (`mlprod bump patch`)"
            )


def save(
    models_dir: Path,
    model: Model,
    *,
    name: str,
    version: str,
    data: TrainingData,
    split: Split,
    metrics: Mapping[str, float],
    input_schema: InputSchema,
    output: Output,
    thresholds: Mapping[str, float] | None = None,
    compilation: Compilation | None = None,
    profile: Profile | None = None,
) -> Manifest:
    """Write a new version's artifact(s) and manifest; refuse an existing version.

    ``compilation`` is the compiled model that passed its gate (written beside the
    native artifact), or why there is none (recorded in the manifest).
    The files are written to temporary names in ``models_dir`` and renamed into
    place (artifacts first, manifest last), so no partial version is ever visible.
    The git state recorded is that of the current directory, the project.
    """
    model_type = type(model)
    ensure_new_version(models_dir, name, version, model_type)
    models_dir.mkdir(parents=True, exist_ok=True)
    final_artifact = artifact_path(models_dir, name, version, model_type)
    final_manifest = manifest_path(models_dir, name, version)
    staged_artifact = staging_path(final_artifact)
    staged_manifest = staging_path(final_manifest)
    final_compiled = compiled_path(models_dir, name, version)
    staged_compiled = staging_path(final_compiled)
    onnx = None if compilation is None else compilation.onnx
    try:
        model.dump(staged_artifact)
        compiled = None
        if onnx is not None and compilation is not None:
            staged_compiled.write_bytes(onnx)
            compiled = CompiledArtifact(
                file=final_compiled.name,
                sha256=sha256_file(staged_compiled),
                runtime=f"onnxruntime {metadata.version('onnxruntime')}",
                converter=compilation.converter or "",
                precision=compilation.precision or "",
                tolerance=Tolerance(**TOLERANCE),
                rows_checked=compilation.rows_checked,
                max_difference=compilation.max_difference,
                opset=dict(compilation.opset or {}),
            )
        git = git_state(Path.cwd())
        manifest = Manifest(
            name=name,
            version=version,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            framework=model.framework,
            framework_version=metadata.version(model.framework),
            python_version=platform.python_version(),
            git_commit=git.commit,
            git_dirty=git.dirty,
            data=data,
            split=split,
            parameters=model.params(),
            metrics=dict(metrics),
            thresholds=dict(thresholds or {}),
            input_schema=input_schema,
            output=output,
            artifact=Artifact(file=final_artifact.name, sha256=sha256_file(staged_artifact)),
            compiled=compiled,
            not_compiled=None if compilation is None else compilation.reason,
            profile=profile,
        )
        write_manifest(staged_manifest, manifest)
        staged_artifact.rename(final_artifact)
        try:
            if compiled is not None:
                staged_compiled.rename(final_compiled)
            staged_manifest.rename(final_manifest)
        except OSError:
            final_artifact.unlink()
            final_compiled.unlink(missing_ok=True)
            raise
    finally:
        staged_artifact.unlink(missing_ok=True)
        staged_compiled.unlink(missing_ok=True)
        staged_manifest.unlink(missing_ok=True)
    return manifest


def load(
    models_dir: Path,
    name: str,
    requested: str,
    model_type: type[ModelT],
    thresholds: Thresholds | None = None,
) -> LoadedModel[ModelT]:
    """Resolve ``requested`` (``latest`` or a version), pass it through `check`, load it."""
    version = resolve_version(models_dir, name, requested)
    manifest = check(models_dir, name, version, model_type, thresholds)
    artifact = artifact_path(models_dir, name, version, model_type)
    try:
        model = model_type.load(artifact)
    except UnsafeModelFileError as exc:
        raise UnsafeArtifactError(f"{artifact.parent}: {exc}") from None
    return LoadedModel(model=model, manifest=manifest, artifact=artifact.name)


def load_served(
    models_dir: Path,
    name: str,
    requested: str,
    model_type: type[Model],
    thresholds: Thresholds | None = None,
    runtime: Runtime = "native",
) -> LoadedModel[Model]:
    """`load`, in the runtime ``runtime`` chooses (``MODEL_RUNTIME``, see `RUNTIMES`).

    The compiled model is loaded without the native one (nor its framework's code);
    both artifacts pass `check` first all the same.
    """
    version = resolve_version(models_dir, name, requested)
    compiled = read_manifest(manifest_path(models_dir, name, version)).compiled
    if runtime == "native" or (runtime == "auto" and compiled is None):
        return load(models_dir, name, str(version), model_type, thresholds)
    manifest = check(models_dir, name, version, model_type, thresholds)
    if manifest.compiled is None:
        raise RegistryError(
            f"{manifest_path(models_dir, name, version)}: {name} {version} has no compiled "
            f"model ({manifest.not_compiled or 'trained before compiled inference'}); "
            "serve it with MODEL_RUNTIME=native or auto"
        )
    path = compiled_path(models_dir, name, version)
    try:
        model = CompiledModel.load(path)
    except UnsafeModelFileError as exc:
        raise UnsafeArtifactError(f"{path.parent}: {exc}") from None
    return LoadedModel(model=model, manifest=manifest, runtime="onnx", artifact=path.name)


def check(
    models_dir: Path,
    name: str,
    version: str | semver.Version,
    model_type: type[Model],
    thresholds: Thresholds | None = None,
) -> Manifest:
    """Every gate a version must pass before its artifact is deserialized; its manifest.

    The manifest must describe this name, version and framework; the artifact's SHA-256
    must match it (and the compiled artifact's, when it lists one); its metrics must
    meet ``thresholds`` (the project's current ones), or, when None (no project file at
    hand, as in an image), those recorded in the manifest at training. Each failure
    raises a `RegistryError` naming the file.
    """
    path = manifest_path(models_dir, name, version)
    manifest = read_manifest(path)
    if (manifest.name, manifest.version) != (name, str(version)):
        raise ManifestError(
            f"{path}: describes model {manifest.name} {manifest.version}, "
            f"expected model {name} {version}"
        )
    artifact = artifact_path(models_dir, name, version, model_type)
    if manifest.artifact.file != artifact.name:
        raise ManifestError(
            f"{path}: names artifact {manifest.artifact.file!r}, not {artifact.name!r}"
        )
    verify_artifact(artifact, manifest.artifact.sha256)
    if manifest.compiled is not None:
        compiled = compiled_path(models_dir, name, version)
        if manifest.compiled.file != compiled.name:
            raise ManifestError(
                f"{path}: names compiled artifact {manifest.compiled.file!r}, not {compiled.name!r}"
            )
        verify_artifact(compiled, manifest.compiled.sha256)
    gate = thresholds if thresholds is not None else recorded_thresholds(path, manifest)
    failures = gate.violations(manifest.metrics)
    if failures:
        raise ValidityError(
            f"{path}: {name} {version} fails its thresholds ({gate.source}): "
            f"{'; '.join(failures)}; refusing to serve it"
        )
    return manifest


def git_state(directory: Path) -> GitState:
    """The git commit and dirty flag of ``directory``; both None outside a repository."""
    commit = _git(directory, "rev-parse", "HEAD")
    if commit is None:
        return GitState(commit=None, dirty=None)
    status = _git(directory, "status", "--porcelain")
    return GitState(commit=commit, dirty=None if status is None else bool(status))


def _git(directory: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args], cwd=directory, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):  # no git, not a repository, no commits
        return None
    return result.stdout.strip()


def staging_path(final: Path) -> Path:
    """A hidden temporary name beside ``final`` (same filesystem, so renaming is atomic)."""
    return final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}.tmp")


def _available(versions: list[semver.Version]) -> str:
    if not versions:
        return " (none available; train one first)"
    return f" (available: {', '.join(map(str, versions))})"
