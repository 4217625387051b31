"""Tracking against a real MLflow tracking server: runs, the registry mirror, the serving
alias, and a tracker that is away.

Needs the project's ``tracking-server`` extra (MLflow with its server). The server keeps
its runs in SQLite and its artifacts in a folder, both temporary; it is started on a free
loopback port and stopped by its process id (with the workers it started, its process
group). The commands run in a copy of the project that is a git repository, with
``MLFLOW_TRACKING_URI`` set, in this process (each in its own would import MLflow anew).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.__package_name }} import cli
from {{ cookiecutter.__package_name }}.model.manifest import Manifest, read_manifest
from {{ cookiecutter.__package_name }}.model.train import ProjectConfig
from {{ cookiecutter.__package_name }}.tracking import QUICK_FAILURE

from servers import LOOPBACK, free_port

pytestmark = pytest.mark.tracking

STARTUP = 180
"""Seconds a server may take to answer: MLflow's server imports a lot, on a busy machine."""


def _mlflow() -> Any:
    """MLflow's client (the tracking-server extra); imported by the fixtures only, so that
    without it the other tests still collect."""
    return pytest.importorskip("mlflow", reason="the tracking-server extra is not installed")


@dataclass(frozen=True)
class Result:
    """A command's exit code and output."""

    returncode: int
    stdout: str
    stderr: str


@dataclass
class Tracker:
    """A real `mlflow server` over one SQLite file and one artifact folder."""

    folder: Path
    process: subprocess.Popen[bytes] | None = None
    url: str = ""

    def start(self) -> None:
        mlflow = Path(sys.executable).with_name("mlflow")
        port = free_port()
        self.url = f"http://{LOOPBACK}:{port}"
        log = (self.folder / "server.log").open("ab")
        self.process = subprocess.Popen(
            [mlflow, "server", "--host", LOOPBACK, "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
             "--artifacts-destination", str(self.folder / "artifacts")],
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: its workers stop with it
            # Its job runner starts eight more processes; runs and the registry need none.
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + STARTUP
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"mlflow server did not answer within {STARTUP} s: see {self.folder}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def client(self) -> Any:
        return _mlflow().MlflowClient(tracking_uri=self.url, registry_uri=self.url)


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tracker]:
    _mlflow()
    server = Tracker(tmp_path_factory.mktemp("mlflow"))
    server.start()
    yield server
    server.stop()


@dataclass
class Workdir:
    """A copy of the project (configuration and data, committed to git) to train in."""

    root: Path
    name: str
    tracker: Tracker

    def run(self, *args: str) -> Result:
        """The project's command line, in this copy, with the tracker's URI set."""
        out, err = io.StringIO(), io.StringIO()
        with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
            patch.chdir(self.root)
            patch.delenv("MODEL_VERSION", raising=False)
            patch.setenv("MLFLOW_TRACKING_URI", self.tracker.url)
            for variable, value in QUICK_FAILURE.items():  # the tracker's defaults, undone after
                patch.setenv(variable, value)
            code = cli.main(list(args))
        return Result(code, out.getvalue(), err.getvalue())

    def train(self, version: str) -> Result:
        pyproject = self.root / "pyproject.toml"
        text = pyproject.read_text()
        start = text.index('model_version = "')
        end = text.index('"', start + len('model_version = "'))
        pyproject.write_text(f'{text[:start]}model_version = "{version}{text[end:]}')
        return self.run("train")

    def manifest(self, version: str) -> Manifest:
        return read_manifest(self.root / "models" / f"{self.name}-{version}.json")


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=tests", "-c", "user.email=tests@example.invalid", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def workdir(
    tmp_path_factory: pytest.TempPathFactory, project: ProjectConfig, tracker: Tracker
) -> Workdir:
    root = tmp_path_factory.mktemp("tracked")
    shutil.copy(project.root / "pyproject.toml", root)
    shutil.copytree(project.root / "data", root / "data")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "the project")
    return Workdir(root, project.model_name, tracker)


@pytest.fixture(scope="module")
def first(workdir: Workdir) -> Manifest:
    """Version 0.1.0, trained with the tracker up."""
    result = workdir.train("0.1.0")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return workdir.manifest("0.1.0")


def runs_of(client: Any, name: str, version: str) -> list[Any]:
    experiment = client.get_experiment_by_name(name)
    return list(
        client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`mlprod.model_version` = '{version}'",
        )
    )


def model_version(client: Any, name: str, version: str) -> Any:
    found = client.search_model_versions(f"name = '{name}' and tag.semver = '{version}'")
    assert len(found) == 1, found
    return found[0]


def test_training_logs_one_run_with_parameters_metrics_tags_and_artifacts(
    workdir: Workdir, first: Manifest, tracker: Tracker, tmp_path: Path
) -> None:
    client = tracker.client()
    (run,) = runs_of(client, first.name, "0.1.0")
    assert run.info.status == "FINISHED"
    assert run.data.metrics == pytest.approx(first.metrics)
    params = run.data.params
    for key, value in first.parameters.items():  # as JSON, strings as they are
        assert params[key] == (value if isinstance(value, str) else json.dumps(value))
    assert params["data.sha256"] == first.data.sha256
    assert params["data.rows"] == str(first.data.rows)
    assert params["split.seed"] == str(first.split.seed)
    tags = run.data.tags
    assert tags["mlprod.model_name"] == first.name
    assert tags["mlprod.model_version"] == "0.1.0"
    assert first.git_commit is not None
    assert tags["mlflow.source.git.commit"] == first.git_commit
    files = {item.path for item in client.list_artifacts(run.info.run_id, "model")}
    expected = {f"{first.name}-0.1.0.json", first.artifact.file}
    if first.compiled is not None:
        expected.add(first.compiled.file)
    assert files == {f"model/{file}" for file in expected}
    sent = client.download_artifacts(run.info.run_id, f"model/{first.artifact.file}", tmp_path)
    assert hashlib.sha256(Path(sent).read_bytes()).hexdigest() == first.artifact.sha256


def test_the_registered_model_version_carries_the_semantic_version_and_the_alias(
    first: Manifest, tracker: Tracker
) -> None:
    client = tracker.client()
    registered = model_version(client, first.name, "0.1.0")
    (run,) = runs_of(client, first.name, "0.1.0")
    assert registered.run_id == run.info.run_id
    assert registered.source == f"{run.info.artifact_uri}/model"
    served = client.get_model_version_by_alias(first.name, "serving")
    assert served.version == registered.version  # the only version, so the one served


def test_serve_version_moves_the_alias(workdir: Workdir, first: Manifest, tracker: Tracker) -> None:
    client = tracker.client()
    second = workdir.train("0.2.0")
    assert second.returncode == 0, second.stderr
    latest = model_version(client, first.name, "0.2.0")
    assert client.get_model_version_by_alias(first.name, "serving").version == latest.version
    switched = workdir.run("serve-version", "0.1.0")
    assert switched.returncode == 0, switched.stderr
    older = model_version(client, first.name, "0.1.0")
    assert client.get_model_version_by_alias(first.name, "serving").version == older.version
    assert f"alias serving -> model version {older.version}" in switched.stdout


def test_a_tracker_that_is_away_loses_no_model_and_runs_sync_fills_the_gap(
    workdir: Workdir, first: Manifest, tracker: Tracker
) -> None:
    tracker.stop()
    try:
        trained = workdir.train("0.3.0")
        switched = workdir.run("serve-version", "0.3.0")
    finally:
        tracker.start()  # on a new port: the runs live in its database, not its address
    assert trained.returncode == 0, trained.stderr
    assert workdir.manifest("0.3.0").version == "0.3.0"
    (line,) = trained.stderr.splitlines()
    assert line.startswith("tracking: the tracker at http://")
    assert "cannot connect" in line
    assert line.endswith(
        f"{first.name} 0.3.0 is registered locally: run `{cli.PROG} runs sync` when it is back"
    )
    assert switched.returncode == 0, switched.stderr
    assert (workdir.root / "models" / "SERVING").read_text().strip() == "0.3.0"
    assert len(switched.stderr.splitlines()) == 1
    assert "0.3.0 is switched locally" in switched.stderr

    client = tracker.client()
    assert runs_of(client, first.name, "0.3.0") == []
    listed = workdir.run("runs")
    assert listed.returncode == 0, listed.stderr
    missing = f"not in the tracker: 0.3.0; run `{cli.PROG} runs sync`"
    assert listed.stdout.splitlines()[-1] == missing

    synced = workdir.run("runs", "sync")
    assert synced.returncode == 0, synced.stderr
    assert "  logged     0.3.0" in synced.stdout.splitlines()
    assert "  serving    0.3.0" in synced.stdout.splitlines()
    (run,) = runs_of(client, first.name, "0.3.0")
    assert run.data.tags["mlprod.complete"] == "true"
    registered = model_version(client, first.name, "0.3.0")
    assert client.get_model_version_by_alias(first.name, "serving").version == registered.version

    again = workdir.run("runs", "sync")
    assert "  logged     none: every version was tracked" in again.stdout.splitlines()
    assert [len(runs_of(client, first.name, v)) for v in ("0.1.0", "0.2.0", "0.3.0")] == [1, 1, 1]
    listed = workdir.run("runs")
    versions = [line.split()[0] for line in listed.stdout.splitlines()[1:4]]
    assert versions == ["0.3.0", "0.2.0", "0.1.0"]  # newest first
    assert listed.stdout.splitlines()[4] == f"from {tracker.url} (experiment {first.name})"
