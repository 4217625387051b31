"""``runs``: the model's recent runs with their metrics, newest first.

From the tracker when one is configured (its runs are the registered versions, logged by
training or ``runs sync``), else from the manifests in the models directory, which hold the
same metrics. ``runs sync`` logs the versions the tracker missed and points its ``serving``
alias at the version a server would serve. Training and ``serve-version`` reach the
tracker through `after_training` and `after_switch`, which never fail: the version is
already registered (or switched) locally, so a tracker that is away costs one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import semver

from ..model import registry
from ..model.errors import RegistryError
from ..model.manifest import Manifest, read_manifest
from . import TrackingError, require_client

if TYPE_CHECKING:
    from .mlflow_tracker import Tracker

PROG = "{{ cookiecutter.__project_slug }}"


@dataclass(frozen=True)
class RunRow:
    """A trained version as ``runs`` lists it."""

    version: str
    started: datetime
    metrics: dict[str, float]
    run_id: str | None
    """The tracker's run; None when listed from the local manifests."""


@dataclass(frozen=True)
class Listing:
    """``runs``' table, where it came from, and the local versions the tracker misses."""

    rows: list[RunRow]
    source: str
    missing: list[str]


def list_runs(models_dir: Path, name: str, uri: str | None, limit: int) -> Listing:
    """Up to ``limit`` runs, newest first: the tracker's at ``uri``, else the local ones."""
    local = local_runs(models_dir, name)
    if uri is None:
        return Listing(local[:limit], f"the manifests in {models_dir}", [])
    tracker = _tracker(uri, name)
    tracked = [
        RunRow(run.version, run.started, run.metrics, run.run_id)
        for run in tracker.recent_runs(limit)
    ]
    have = tracker.tracked_versions()
    missing = [row.version for row in local if row.version not in have]
    return Listing(tracked, f"{uri} (experiment {tracker.experiment})", missing)


def local_runs(models_dir: Path, name: str) -> list[RunRow]:
    """Every registered version with a readable manifest, newest first."""
    rows = []
    for version in registry.list_versions(models_dir, name):
        try:
            manifest = read_manifest(registry.manifest_path(models_dir, name, version))
        except RegistryError:
            continue
        rows.append(RunRow(manifest.version, _created(manifest), dict(manifest.metrics), None))
    return sorted(rows, key=lambda row: row.started, reverse=True)


def sync(models_dir: Path, name: str, uri: str, served: semver.Version | None) -> list[str]:
    """Log what the tracker misses, point its alias at ``served``; lines to print."""
    tracker = _tracker(uri, name)
    report = tracker.sync(models_dir, served, registry.list_versions(models_dir, name))
    lines = [f"Synced {name} with {uri} (experiment {tracker.experiment})"]
    logged = ", ".join(report.logged) or "none: every version was tracked"
    lines.append(f"  {'logged':<10} {logged}")
    for version, reason in report.skipped.items():
        lines.append(f"  {'skipped':<10} {version}: {reason}")
    alias = f"{report.alias}" if report.alias else "not set (no version is served)"
    lines.append(f"  {'serving':<10} {alias}")
    return lines


def after_training(
    models_dir: Path, manifest: Manifest, uri: str, served: semver.Version | None
) -> tuple[bool, str]:
    """Log a version just registered, and move the alias; never raises. (ok, line)."""
    try:
        tracker = _tracker(uri, manifest.name)
        tracked = tracker.log_version(models_dir, manifest)
        if served is not None:
            tracker.point_alias(served)
    except TrackingError as exc:
        return False, _missed(exc, manifest.name, manifest.version, "registered")
    return True, (
        f"  {'tracked':<10} run {tracked.run_id} in {uri}, registered model version "
        f"{tracked.model_version}"
    )


def after_switch(name: str, version: semver.Version, uri: str) -> tuple[bool, str]:
    """Point the tracker's alias at the version just switched to; never raises. (ok, line)."""
    try:
        model_version = _tracker(uri, name).point_alias(version)
    except TrackingError as exc:
        return False, _missed(exc, name, str(version), "switched")
    if model_version is None:
        return False, (
            f"tracking: {name} {version} is not in {uri} yet, so its alias was not moved: "
            f"run `{PROG} runs sync`"
        )
    return True, f"  {'tracked':<10} alias serving -> model version {model_version} in {uri}"


def _missed(exc: TrackingError, name: str, version: str, done: str) -> str:
    return (
        f"tracking: {exc}; {name} {version} is {done} locally: "
        f"run `{PROG} runs sync` when it is back"
    )


def _tracker(uri: str, name: str) -> Tracker:
    require_client(uri)
    from .mlflow_tracker import Tracker

    return Tracker(uri, name)


def _created(manifest: Manifest) -> datetime:
    try:
        created = datetime.fromisoformat(manifest.created_at)
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return created if created.tzinfo else created.replace(tzinfo=timezone.utc)
