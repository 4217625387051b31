"""The MLflow mirror of the registry: one run per registered version, a registered model
version for each, and the ``serving`` alias on the version a server would serve.

The only module that imports MLflow (its client, the ``tracking`` extra). Every version is
checked against its manifest (`registry.check`) before its files are sent, so the mirror
holds nothing the registry would refuse. Logging is idempotent: a version already tracked
by a complete run is left alone; a run left incomplete by a failure is deleted and logged
again. That is what ``runs sync`` relies on to fill the gaps a tracker that was away left.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import semver
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, Run, RunTag

from ..model import registry
from ..model.manifest import Manifest
from ..model.predictor import Predictor
from . import QUICK_FAILURE, SERVING_ALIAS, TrackingError

NAME_TAG = "mlprod.model_name"
VERSION_TAG = "mlprod.model_version"
COMPLETE_TAG = "mlprod.complete"
"""Set last, once every parameter, metric and artifact of the run is in."""
SEMVER_TAG = "semver"
"""The registered model version's tag holding the semantic version."""
GIT_COMMIT_TAG = "mlflow.source.git.commit"
ARTIFACT_DIR = "model"
"""Where a run keeps the manifest and the artifacts; the registered version's source."""
BATCH = 100
"""Parameters (and tags) per request: MLflow's limit for one ``log_batch``."""


@dataclass(frozen=True)
class Tracked:
    """A version as the tracker holds it: its run and its registered model version."""

    version: str
    run_id: str
    model_version: str
    logged: bool
    """Whether this call logged the run (False: a complete run was already there)."""


@dataclass(frozen=True)
class TrackedRun:
    """One run of the model in the tracker, for ``runs``."""

    run_id: str
    version: str
    started: datetime
    metrics: dict[str, float]


@dataclass
class SyncReport:
    """What ``runs sync`` did."""

    logged: list[str] = field(default_factory=list)
    """Versions whose run was missing (or incomplete) and has been logged."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Versions the registry refuses (hash, thresholds), with why: not mirrored."""
    alias: str | None = None
    """The semantic version the ``serving`` alias now points at."""


class Tracker:
    """The MLflow tracking server (and model registry) at ``uri``, for model ``name``."""

    def __init__(self, uri: str, name: str, experiment: str | None = None) -> None:
        for variable, value in QUICK_FAILURE.items():
            os.environ.setdefault(variable, value)
        self.uri = uri
        self.name = name
        self.experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or name
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    # writing ------------------------------------------------------------------------------

    def log_version(self, models_dir: Path, manifest: Manifest) -> Tracked:
        """Make sure ``manifest``'s version has a complete run and a registered model version."""
        version = manifest.version
        with self._failures():
            run = self._complete_run(version)
            logged = run is None
            if run is None:
                registry.check(models_dir, self.name, version, Predictor)
                run = self._log_run(models_dir, manifest)
            model_version = self._registered(version) or self._register(run, version)
        return Tracked(version, run.info.run_id, model_version, logged)

    def point_alias(self, version: str | semver.Version) -> str | None:
        """Move the ``serving`` alias to ``version``'s registered model version; return that
        model version's number, or None when ``version`` is not registered in the tracker."""
        with self._failures():
            model_version = self._registered(str(version))
            if model_version is not None:
                self.client.set_registered_model_alias(self.name, SERVING_ALIAS, model_version)
            return model_version

    def sync(
        self, models_dir: Path, served: semver.Version | None, versions: list[semver.Version]
    ) -> SyncReport:
        """Log every version in ``versions`` the tracker misses, then point the alias at
        ``served``."""
        report = SyncReport()
        for version in sorted(versions):
            try:
                manifest = registry.check(models_dir, self.name, version, Predictor)
            except registry.RegistryError as exc:
                report.skipped[str(version)] = str(exc)
                continue
            if self.log_version(models_dir, manifest).logged:
                report.logged.append(str(version))
        if served is not None and self.point_alias(served) is not None:
            report.alias = str(served)
        return report

    # reading ------------------------------------------------------------------------------

    def recent_runs(self, limit: int) -> list[TrackedRun]:
        """The model's complete runs, newest first (by when the version was trained)."""
        with self._failures():
            experiment = self.client.get_experiment_by_name(self.experiment)
            if experiment is None:
                return []
            runs = self.client.search_runs(
                [experiment.experiment_id],
                filter_string=f"tags.`{NAME_TAG}` = '{self.name}' "
                f"and tags.`{COMPLETE_TAG}` = 'true'",
                order_by=["attributes.start_time DESC"],
                max_results=limit,
            )
        return [
            TrackedRun(
                run_id=run.info.run_id,
                version=run.data.tags.get(VERSION_TAG, "?"),
                started=datetime.fromtimestamp(run.info.start_time / 1000, timezone.utc),
                metrics=dict(run.data.metrics),
            )
            for run in runs
        ]

    def tracked_versions(self) -> set[str]:
        """The versions that have a complete run."""
        return {run.version for run in self.recent_runs(limit=10_000)}

    # internals ----------------------------------------------------------------------------

    def _experiment_id(self) -> str:
        experiment = self.client.get_experiment_by_name(self.experiment)
        if experiment is not None:
            return str(experiment.experiment_id)
        return str(self.client.create_experiment(self.experiment))

    def _runs_of(self, version: str) -> list[Run]:
        experiment = self.client.get_experiment_by_name(self.experiment)
        if experiment is None:
            return []
        runs: list[Run] = self.client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{NAME_TAG}` = '{self.name}' "
            f"and tags.`{VERSION_TAG}` = '{version}'",
        )
        return runs

    def _complete_run(self, version: str) -> Run | None:
        """The version's complete run; incomplete ones (a failure midway) are deleted."""
        complete = None
        for run in self._runs_of(version):
            if run.data.tags.get(COMPLETE_TAG) == "true" and complete is None:
                complete = run
            elif run.data.tags.get(COMPLETE_TAG) != "true":
                self.client.delete_run(run.info.run_id)
        return complete

    def _log_run(self, models_dir: Path, manifest: Manifest) -> Run:
        started = _milliseconds(manifest.created_at)
        run = self.client.create_run(
            self._experiment_id(),
            start_time=started,
            run_name=f"{manifest.name}-{manifest.version}",
            tags={NAME_TAG: manifest.name, VERSION_TAG: manifest.version},
        )
        run_id = run.info.run_id
        params = [Param(key, _text(value)) for key, value in _parameters(manifest).items()]
        tags = [RunTag(key, value) for key, value in _tags(manifest).items()]
        metrics = [Metric(key, value, started, 0) for key, value in manifest.metrics.items()]
        self.client.log_batch(run_id, metrics=metrics, tags=tags)
        for start in range(0, len(params), BATCH):
            self.client.log_batch(run_id, params=params[start : start + BATCH])
        files = [registry.manifest_path(models_dir, manifest.name, manifest.version)]
        files.append(models_dir / manifest.artifact.file)
        if manifest.compiled is not None:
            files.append(models_dir / manifest.compiled.file)
        for path in files:
            self.client.log_artifact(run_id, str(path), artifact_path=ARTIFACT_DIR)
        self.client.set_tag(run_id, COMPLETE_TAG, "true")
        self.client.set_terminated(run_id)
        return run

    def _registered(self, version: str) -> str | None:
        found = self.client.search_model_versions(
            f"name = '{self.name}' and tag.{SEMVER_TAG} = '{version}'"
        )
        return str(found[0].version) if found else None

    def _register(self, run: Run, version: str) -> str:
        if not self.client.search_registered_models(f"name = '{self.name}'"):
            self.client.create_registered_model(
                self.name, description="Mirrored from the project's models directory."
            )
        created = self.client.create_model_version(
            self.name,
            source=f"{run.info.artifact_uri}/{ARTIFACT_DIR}",
            run_id=run.info.run_id,
            tags={SEMVER_TAG: version},
            description=f"{self.name} {version}",
            await_creation_for=0,
        )
        return str(created.version)

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """Any failure of the tracker (away, refusing, erring) as one `TrackingError`."""
        try:
            yield
        except (TrackingError, registry.RegistryError):
            raise
        except Exception as exc:
            raise TrackingError(f"the tracker at {self.uri} failed: {_reason(exc)}") from exc


def _parameters(manifest: Manifest) -> dict[str, Any]:
    data = manifest.data
    recorded = {
        "data.file": data.file,
        "data.sha256": data.sha256,
        "data.rows": data.rows,
        "split.seed": manifest.split.seed,
        "split.test_size": manifest.split.test_size,
        "split.train_rows": manifest.split.train_rows,
        "split.test_rows": manifest.split.test_rows,
    }
    if data.dvc_md5 is not None:
        recorded["data.dvc_md5"] = data.dvc_md5
    return {**manifest.parameters, **recorded}


def _tags(manifest: Manifest) -> dict[str, str]:
    tags = {
        "mlprod.framework": f"{manifest.framework} {manifest.framework_version}",
        "mlprod.task": manifest.output.task,
        "mlprod.artifact_sha256": manifest.artifact.sha256,
    }
    if manifest.git_commit is not None:
        tags[GIT_COMMIT_TAG] = manifest.git_commit
        tags["mlprod.git_dirty"] = str(manifest.git_dirty).lower()
    return tags


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _milliseconds(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000)


def _reason(exc: Exception) -> str:
    """``exc`` in a few words: the system's reason when a connection failed (MLflow wraps
    it in a long message naming every retry), else its message's first line, shortened."""
    text = str(exc).strip()
    refused = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if refused is not None and "Max retries exceeded" in text:
        return f"cannot connect ({refused.group(1).strip()})"
    lines = text.splitlines()
    first = lines[0] if lines else type(exc).__name__
    return first if len(first) <= 200 else first[:197] + "..."
