"""Which version a server serves, and the verified copies its workers load.

Which version a server loads is the content of ``<models dir>/SERVING`` when that
file exists (``serve-version`` writes it), otherwise ``MODEL_VERSION``; either is an
exact version or ``latest``, the highest release. A running server is switched by
writing that file and touching a file uWSGI's ``touch-chain-reload`` watches
(`touch_trigger`); each worker then checks that the choice it loaded still stands
(`ChoiceWatch`), because uWSGI can ignore the touch.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from dataclasses import dataclass, field
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

FileStamp = tuple[int, int, int]
"""A file's size, modification time (ns) and inode: it changed when this did."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    """The version a server should serve (``latest`` or exact) and what chose it."""

    requested: str
    source: str
    stamp: FileStamp | None = field(default=None, compare=False)
    """``SERVING`` as it was just before it was read (None: there was none)."""


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
    stamp = _stamp(path)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return Choice(requested=configured, source=configured_by, stamp=stamp)
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{path}: unreadable: {exc}") from None
    if text != LATEST and not semver.Version.is_valid(text):
        raise RegistryError(
            f"{path}: {text!r} is neither {LATEST!r} nor a semantic version; "
            "rewrite it with `serve-version VERSION` or delete it"
        )
    return Choice(requested=text, source=str(path), stamp=stamp)


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


def _stamp(path: Path) -> FileStamp | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


def touch_trigger(path: Path) -> None:
    """Touch a ``touch-chain-reload`` file so that uWSGI sees it, creating it if need be.

    uWSGI compares whole-second modification times with the last one it saw, so the time
    is moved on by at least a second past the file's own: a second touch within the same
    second (two switches, a switch and a recycle) is never lost to that comparison.
    """
    try:
        previous = path.stat().st_mtime
    except FileNotFoundError:
        previous = 0.0
    stamp = max(time.time(), math.floor(previous) + 1.0)
    path.touch()
    os.utime(path, (stamp, stamp))


class ChoiceWatch:
    """Whether the version a worker loaded is still the chosen one.

    uWSGI ignores a touch of a ``touch-chain-reload`` file while a chain reload is
    running (its master logs "but chain reload is already running"), and a worker that
    chain reload replaced before ``serve-version`` wrote ``SERVING`` loaded the old
    version: without a check, the switch would be lost for that worker until its next
    restart. The worker asks for another chain reload while `superseded` says so.

    ``SERVING`` is read again only when its size, time or inode change, so a check costs
    a ``stat`` call. A file that names no version is not a reason to reload: a worker
    started now would refuse it and stop the server (``need-app``).
    """

    def __init__(self, models_dir: Path, loaded: Choice, configured: str) -> None:
        self._models_dir = models_dir
        self._loaded = loaded
        self._configured = configured
        self._seen = loaded.stamp
        self._chosen = loaded.requested

    def superseded(self) -> str | None:
        """The version chosen since this worker loaded its own; None while it is the same."""
        stamp = _stamp(serving_path(self._models_dir))
        if stamp != self._seen:
            self._seen = stamp
            try:
                chosen = choose(self._models_dir, self._configured)
            except RegistryError as exc:
                logger.error("cannot tell which version to serve: %s", exc)
            else:
                self._chosen = chosen.requested
        return None if self._chosen == self._loaded.requested else self._chosen
