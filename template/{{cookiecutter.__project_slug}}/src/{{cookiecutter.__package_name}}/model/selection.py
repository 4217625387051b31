"""Which version a server serves, and the verified copies its workers load.

Which version a server loads is the content of ``<models dir>/SERVING`` when that
file exists (``serve-version`` writes it), otherwise ``MODEL_VERSION``; either is an
exact version or ``latest``, the highest release.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import semver

from .base import Model
from .config import read_project_thresholds
from .errors import RegistryError
from .registry import (
    LATEST,
    LoadedModel,
    Runtime,
    artifact_path,
    check,
    compiled_path,
    load_served,
    manifest_path,
    resolve_version,
    staging_path,
)
from .thresholds import Thresholds, ThresholdsError

SERVING_FILE = "SERVING"
"""The file in the models directory that names the version to serve (see `choose`)."""


@dataclass(frozen=True)
class Choice:
    """The version a server should serve (``latest`` or exact) and what chose it."""

    requested: str
    source: str


def load_chosen(
    models_dir: Path,
    name: str,
    configured: str,
    model_type: type[Model],
    pyproject: Path | None,
    verified_dir: Path | None = None,
    configured_by: str = "MODEL_VERSION",
    runtime: Runtime = "native",
) -> tuple[LoadedModel[Model], Choice]:
    """What a server loads at start: the version `choose` picks, through every gate, in
    the runtime ``runtime`` chooses (``MODEL_RUNTIME``, see `registry.load_served`).

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
        loaded = load_served(models_dir, name, choice.requested, model_type, thresholds, runtime)
        return loaded, choice
    return load_verified(
        models_dir, verified_dir, name, choice.requested, model_type, thresholds, runtime
    ), choice


def load_verified(
    models_dir: Path,
    verified_dir: Path,
    name: str,
    requested: str,
    model_type: type[Model],
    thresholds: Thresholds | None = None,
    runtime: Runtime = "native",
) -> LoadedModel[Model]:
    """Load a version through a private copy made when it first passed every gate.

    The first load of a version (a server's start, a chain reload onto a new version)
    passes `check` on ``models_dir`` and copies the manifest and artifacts (the native
    one, and the compiled one when the manifest lists it) into
    ``verified_dir``, a folder only the server writes; a failure there raises, so
    ``need-app`` still refuses to start. Every later load of that version (a worker
    respawned after a crash, harakiri or recycle) passes the same gates on the copy, so
    a file that changed or broke in ``models_dir`` since cannot take a worker down.
    """
    version = resolve_version(models_dir, name, requested)
    manifest_file = manifest_path(models_dir, name, version).name
    artifact_files = [artifact_path(models_dir, name, version, model_type).name]
    made = not (verified_dir / manifest_file).exists()
    if made:
        manifest = check(models_dir, name, version, model_type, thresholds)
        if manifest.compiled is not None:
            artifact_files.append(compiled_path(models_dir, name, version).name)
        verified_dir.mkdir(parents=True, exist_ok=True)
        for file in (*artifact_files, manifest_file):  # the manifest last: it marks it whole
            staged = staging_path(verified_dir / file)
            try:
                shutil.copyfile(models_dir / file, staged)
                os.replace(staged, verified_dir / file)
            finally:
                staged.unlink(missing_ok=True)
    try:
        return load_served(verified_dir, name, str(version), model_type, thresholds, runtime)
    except RegistryError:
        if made:  # the files changed while being copied: leave no bad copy behind
            (verified_dir / manifest_file).unlink(missing_ok=True)
            for file in artifact_files:
                (verified_dir / file).unlink(missing_ok=True)
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
    staged = staging_path(path)
    try:
        staged.write_text(f"{version}\n", encoding="utf-8")
        os.replace(staged, path)
    except OSError as exc:
        raise RegistryError(f"{path}: cannot write it ({exc.strerror or exc})") from None
    finally:
        staged.unlink(missing_ok=True)
    return path
