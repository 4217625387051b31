"""The artifact registry: versioned model files and their manifests, side by side.

Each version of a model is two files in the models directory::

    <name>-<version><suffix>    the artifact, e.g. iris-classifier-1.2.0.skops
    <name>-<version>.json       its manifest

Versions are semantic versions. A version exists once its manifest exists; it is
never overwritten. Before an artifact is deserialized it must pass two gates: its
SHA-256 matches the manifest (integrity), and the manifest's metrics meet the
thresholds (validity, see `thresholds`).

Which version a server loads is the content of ``<models dir>/SERVING`` when that
file exists (``serve-version`` writes it), otherwise ``MODEL_VERSION``; either is an
exact version or ``latest``, the highest release.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Generic, TypeVar

import semver

from .base import Model, ModelT, UnsafeModelFileError
from .schema import InputSchema
from .thresholds import Thresholds, ThresholdsError, read_project_thresholds

MANIFEST_FORMAT = 1
LATEST = "latest"
SERVING_FILE = "SERVING"
"""The file in the models directory that names the version to serve (see `choose`)."""


class RegistryError(Exception):
    """A registry operation that cannot go ahead; the message says why."""


class VersionExistsError(RegistryError):
    """The version was trained already: artifacts are never overwritten."""


class VersionNotFoundError(RegistryError):
    """No manifest exists for the requested version."""


class ManifestError(RegistryError):
    """A manifest is unreadable, malformed, or describes another model."""


class IntegrityError(RegistryError):
    """An artifact is missing or its SHA-256 differs from its manifest's."""


class UnsafeArtifactError(RegistryError):
    """An artifact whose hash matches but whose content the model's loader refuses."""


class ValidityError(RegistryError):
    """A model's metrics fail its thresholds: it is not registered, or not served."""


@dataclass(frozen=True)
class TrainingData:
    """The data file a model was trained on."""

    file: str
    sha256: str
    rows: int


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

    def to_dict(self) -> dict[str, Any]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {
            **fields,
            "data": dataclasses.asdict(self.data),
            "split": dataclasses.asdict(self.split),
            "input_schema": self.input_schema.to_dict(),
            "output": dataclasses.asdict(self.output),
            "artifact": dataclasses.asdict(self.artifact),
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
            }
        )


LoadedT_co = TypeVar("LoadedT_co", bound=Model, covariant=True)


@dataclass(frozen=True)
class LoadedModel(Generic[LoadedT_co]):
    """A model read from the registry, with the manifest it was verified against."""

    model: LoadedT_co
    manifest: Manifest


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


def ensure_new_version(models_dir: Path, name: str, version: str, model_type: type[Model]) -> None:
    """Refuse a version that already has an artifact or a manifest."""
    parse_version(version)
    for path in (
        manifest_path(models_dir, name, version),
        artifact_path(models_dir, name, version, model_type),
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
) -> Manifest:
    """Write a new version's artifact and manifest; refuse an existing version.

    Both files are written to temporary names in ``models_dir`` and renamed into
    place (artifact first, manifest last), so no partial version is ever visible.
    The git state recorded is that of the current directory, the project.
    """
    model_type = type(model)
    ensure_new_version(models_dir, name, version, model_type)
    models_dir.mkdir(parents=True, exist_ok=True)
    final_artifact = artifact_path(models_dir, name, version, model_type)
    final_manifest = manifest_path(models_dir, name, version)
    staged_artifact = _staging_path(final_artifact)
    staged_manifest = _staging_path(final_manifest)
    try:
        model.dump(staged_artifact)
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
        )
        write_manifest(staged_manifest, manifest)
        staged_artifact.rename(final_artifact)
        try:
            staged_manifest.rename(final_manifest)
        except OSError:
            final_artifact.unlink()
            raise
    finally:
        staged_artifact.unlink(missing_ok=True)
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
    return LoadedModel(model=model, manifest=manifest)


def check(
    models_dir: Path,
    name: str,
    version: str | semver.Version,
    model_type: type[Model],
    thresholds: Thresholds | None = None,
) -> Manifest:
    """Every gate a version must pass before its artifact is deserialized; its manifest.

    The manifest must describe this name, version and framework; the artifact's SHA-256
    must match it; its metrics must meet ``thresholds`` (the project's current ones),
    or, when None (no project file at hand, as in an image), those recorded in the
    manifest at training. Each failure raises a `RegistryError` naming the file.
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
    gate = thresholds if thresholds is not None else recorded_thresholds(path, manifest)
    failures = gate.violations(manifest.metrics)
    if failures:
        raise ValidityError(
            f"{path}: {name} {version} fails its thresholds ({gate.source}): "
            f"{'; '.join(failures)}; refusing to serve it"
        )
    return manifest


def recorded_thresholds(path: Path, manifest: Manifest) -> Thresholds:
    """The thresholds training checked ``manifest`` against, as recorded in it."""
    try:
        return Thresholds.from_table(manifest.thresholds, source=f"recorded in {path.name}")
    except ThresholdsError as exc:
        raise ManifestError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class Choice:
    """The version a server should serve (``latest`` or exact) and what chose it."""

    requested: str
    source: str


def load_chosen(
    models_dir: Path,
    name: str,
    configured: str,
    model_type: type[ModelT],
    pyproject: Path | None,
    verified_dir: Path | None = None,
    configured_by: str = "MODEL_VERSION",
) -> tuple[LoadedModel[ModelT], Choice]:
    """What a server loads at start: the version `choose` picks, through every gate.

    The thresholds are the project's, read from ``pyproject`` when that file exists,
    otherwise those recorded in the manifest (an image has no ``pyproject.toml``).
    With ``verified_dir`` (see `load_verified`), a worker that starts after the files
    changed on disk loads the copy verified when the server started.
    """
    choice = choose(models_dir, configured, configured_by)
    try:
        thresholds = None if pyproject is None else read_project_thresholds(pyproject)
    except ThresholdsError as exc:
        raise RegistryError(str(exc)) from None
    if verified_dir is None:
        return load(models_dir, name, choice.requested, model_type, thresholds), choice
    return load_verified(
        models_dir, verified_dir, name, choice.requested, model_type, thresholds
    ), choice


def load_verified(
    models_dir: Path,
    verified_dir: Path,
    name: str,
    requested: str,
    model_type: type[ModelT],
    thresholds: Thresholds | None = None,
) -> LoadedModel[ModelT]:
    """Load a version through a private copy made when it first passed every gate.

    The first load of a version (a server's start, a chain reload onto a new version)
    passes `check` on ``models_dir`` and copies the manifest and artifact into
    ``verified_dir``, a folder only the server writes; a failure there raises, so
    ``need-app`` still refuses to start. Every later load of that version (a worker
    respawned after a crash, harakiri or recycle) passes the same gates on the copy, so
    a file that changed or broke in ``models_dir`` since cannot take a worker down.
    """
    version = resolve_version(models_dir, name, requested)
    manifest_file = manifest_path(models_dir, name, version).name
    artifact_file = artifact_path(models_dir, name, version, model_type).name
    made = not (verified_dir / manifest_file).exists()
    if made:
        check(models_dir, name, version, model_type, thresholds)
        verified_dir.mkdir(parents=True, exist_ok=True)
        for file in (artifact_file, manifest_file):  # the manifest last: it marks the copy whole
            staged = _staging_path(verified_dir / file)
            try:
                shutil.copyfile(models_dir / file, staged)
                os.replace(staged, verified_dir / file)
            finally:
                staged.unlink(missing_ok=True)
    try:
        return load(verified_dir, name, str(version), model_type, thresholds)
    except RegistryError:
        if made:  # the files changed while being copied: leave no bad copy behind
            (verified_dir / manifest_file).unlink(missing_ok=True)
            (verified_dir / artifact_file).unlink(missing_ok=True)
        raise


def serving_path(models_dir: Path) -> Path:
    return models_dir / SERVING_FILE


def choose(models_dir: Path, configured: str, configured_by: str = "MODEL_VERSION") -> Choice:
    """The version to serve: the one ``<models dir>/SERVING`` names, else ``configured``.

    The file wins because it is how a running server is switched (`record_choice` and a
    chain reload): the workers' environment is fixed when uWSGI starts.
    """
    path = serving_path(models_dir)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return Choice(requested=configured, source=configured_by)
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{path}: unreadable: {exc}") from None
    if text != LATEST and not semver.Version.is_valid(text):
        raise RegistryError(
            f"{path}: {text!r} is neither {LATEST!r} nor a semantic version; "
            "rewrite it with `serve-version VERSION` or delete it"
        )
    return Choice(requested=text, source=str(path))


def record_choice(models_dir: Path, version: str | semver.Version) -> Path:
    """Write ``version`` to ``<models dir>/SERVING`` atomically: readers see old or new."""
    path = serving_path(models_dir)
    staged = _staging_path(path)
    try:
        staged.write_text(f"{version}\n", encoding="utf-8")
        os.replace(staged, path)
    except OSError as exc:
        raise RegistryError(f"{path}: cannot write it ({exc.strerror or exc})") from None
    finally:
        staged.unlink(missing_ok=True)
    return path


def verify_artifact(path: Path, expected_sha256: str) -> None:
    """Raise `IntegrityError` unless ``path`` exists and has the expected SHA-256."""
    try:
        actual = sha256_file(path)
    except FileNotFoundError:
        raise IntegrityError(f"{path}: artifact not found") from None
    if actual != expected_sha256:
        raise IntegrityError(
            f"{path}: SHA-256 {actual} does not match its manifest ({expected_sha256}); "
            "refusing to load it"
        )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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


def _staging_path(final: Path) -> Path:
    """A hidden temporary name beside ``final`` (same filesystem, so renaming is atomic)."""
    return final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}.tmp")


def _available(versions: list[semver.Version]) -> str:
    if not versions:
        return " (none available; train one first)"
    return f" (available: {', '.join(map(str, versions))})"
