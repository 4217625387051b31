"""Gates tier: model versions in a real, installed project, served by a real uWSGI.

One project is generated, installed and trained for the whole module: `mlprod bump
minor` turns 0.1.0 into 0.2.0 touching nothing else, training writes 0.2.0 and
refuses to write it twice; `MODEL_VERSION` picks the served version, `latest` by
default; an altered artifact or a threshold above the model's accuracy stops uWSGI
from starting, naming the file or the metric; and `serve-version` switches a running
server from 0.2.0 to 0.1.0 and back under steady load without failing a request.
Slow; CI runs it all the same.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from projects import new_project
from typer.testing import CliRunner

from mlprod_cli.main import app
from mlprod_cli.project import environment, server

pytestmark = pytest.mark.slow

SLUG = "credit-risk-scorer"
INSTANCE = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
START_TIMEOUT = 120.0
"""Seconds for uWSGI to start or to exit; its workers load the model in seconds."""
CHAIN_TIMEOUT = 120.0
"""Seconds for a chain reload to replace every worker."""
MIN_LOAD_SECONDS = 10.0
MAX_LOAD_SECONDS = 300.0
"""The load loop stops at this bound whatever happens."""


def run(command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@dataclass(frozen=True)
class Flow:
    """What the module's project went through: train, bump, train, train again."""

    project: Path
    bin_dir: Path
    pyproject_before_bump: bytes
    pyproject_after_bump: bytes
    bump_output: str
    second_training: subprocess.CompletedProcess[str]
    repeated_training: subprocess.CompletedProcess[str]
    artifact_before_repeat: tuple[str, int]
    artifact_after_repeat: tuple[str, int]

    @property
    def models(self) -> Path:
        return self.project / "models"

    @property
    def uwsgi(self) -> Path:
        return self.bin_dir / "uwsgi"


def fingerprint(path: Path) -> tuple[str, int]:
    """The file's SHA-256 and modification time in nanoseconds."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Flow:
    output = tmp_path_factory.mktemp("versions")
    project = new_project(output)
    bin_dir = environment.create(project).parent
    first = run([bin_dir / SLUG, "train"], project)
    assert first.returncode == 0, first.stderr

    before = (project / "pyproject.toml").read_bytes()
    bumped = CliRunner().invoke(app, ["bump", "minor", "--project", str(project)])
    assert bumped.exit_code == 0, bumped.output
    after = (project / "pyproject.toml").read_bytes()

    second = run([bin_dir / SLUG, "train"], project)
    artifact = project / "models" / f"{SLUG}-0.2.0.skops"
    before_repeat = fingerprint(artifact) if artifact.exists() else ("", 0)
    repeated = run([bin_dir / SLUG, "train"], project)
    return Flow(
        project=project,
        bin_dir=bin_dir,
        pyproject_before_bump=before,
        pyproject_after_bump=after,
        bump_output=bumped.output,
        second_training=second,
        repeated_training=repeated,
        artifact_before_repeat=before_repeat,
        artifact_after_repeat=fingerprint(artifact) if artifact.exists() else ("", 0),
    )


# Bump and train -----------------------------------------------------------------------------


def test_bump_minor_changes_the_model_version_and_nothing_else(flow: Flow) -> None:
    assert flow.bump_output.startswith("0.1.0 -> 0.2.0\n")
    old, new = b'model_version = "0.1.0"', b'model_version = "0.2.0"'
    assert flow.pyproject_before_bump.count(old) == 1
    assert flow.pyproject_after_bump == flow.pyproject_before_bump.replace(old, new)


def test_training_after_the_bump_writes_version_0_2_0_and_checks_the_thresholds(
    flow: Flow,
) -> None:
    assert flow.second_training.returncode == 0, flow.second_training.stderr
    assert flow.second_training.stdout.startswith(f"Trained {SLUG} 0.2.0 on data/iris.csv\n")
    assert (
        "  thresholds met: min_accuracy 0.9 ([tool.mlprod.thresholds] in pyproject.toml)\n"
        in flow.second_training.stdout
    )
    manifest = json.loads((flow.models / f"{SLUG}-0.2.0.json").read_text())
    assert (manifest["version"], manifest["thresholds"]) == ("0.2.0", {"min_accuracy": 0.9})
    assert manifest["artifact"]["sha256"] == flow.artifact_before_repeat[0]


def test_training_0_2_0_again_is_refused_and_its_artifact_is_unchanged(flow: Flow) -> None:
    assert flow.repeated_training.returncode == 1
    assert flow.repeated_training.stdout == ""
    assert flow.repeated_training.stderr == (
        f"error: {SLUG} 0.2.0 already exists (models/{SLUG}-0.2.0.json); artifacts are never "
        "overwritten: bump the model version first (`mlprod bump patch`)\n"
    )
    assert flow.artifact_after_repeat == flow.artifact_before_repeat


# Which version is served ----------------------------------------------------------------------


def predict(url: str) -> server.Response:
    return server.request("POST", f"{url}/v1/predict", {"instances": [INSTANCE]})


@pytest.fixture(scope="module")
def default_server(flow: Flow) -> Iterator[str]:
    """The project served with MODEL_VERSION unset, two workers; its URL."""
    # RECYCLE_REQUESTS stays at its default: at the router's kept-alive rate workers reach it
    # within seconds, so switches meet recycles' chain reloads, as they would in production.
    env = {"UWSGI_PROCESSES": "2"}
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MODEL_VERSION", raising=False)
        with server.running(flow.project, flow.uwsgi, env=env, timeout=START_TIMEOUT) as url:
            yield url


def test_model_version_0_1_0_serves_0_1_0(flow: Flow) -> None:
    env = {"UWSGI_PROCESSES": "2", "MODEL_VERSION": "0.1.0"}
    with server.running(flow.project, flow.uwsgi, env=env, timeout=START_TIMEOUT) as url:
        answer = predict(url)
        model = server.request("GET", f"{url}/v1/model").body
    assert answer.status == 200
    assert answer.body["model"] == {"name": SLUG, "version": "0.1.0"}
    assert model["version"] == "0.1.0"


def test_by_default_the_highest_release_0_2_0_is_served(default_server: str) -> None:
    answer = predict(default_server)
    assert answer.status == 200
    assert answer.body["model"] == {"name": SLUG, "version": "0.2.0"}


# What stops a start ----------------------------------------------------------------------------


def stage(flow: Flow, directory: Path) -> Path:
    """uwsgi.ini, pyproject.toml and models/ of the project, copied to ``directory``.

    uWSGI works from the directory of its ini file, and the project is installed in
    its environment, so the copy serves like the project itself; the project's own
    files stay untouched for the other tests.
    """
    directory.mkdir()
    for name in ("uwsgi.ini", "pyproject.toml"):
        shutil.copy(flow.project / name, directory)
    shutil.copytree(flow.models, directory / "models")
    return directory


def start_and_expect_exit(flow: Flow, directory: Path) -> tuple[int, str]:
    """Start uWSGI from ``directory``; it must exit on its own. Its exit code and output."""
    env = {
        "HOST": server.LOOPBACK,
        "PORT": str(server.free_port()),
        "STATS_PORT": str(server.free_port()),
        "UWSGI_PROCESSES": "2",
    }
    log = directory / "uwsgi.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(flow.uwsgi), "--ini", str(directory / "uwsgi.ini")],
            cwd=directory,
            env={**_environ_without_uwsgi(), **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            code = process.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.stop(process)
            pytest.fail(f"uWSGI kept running:\n{log.read_text()[-3000:]}")
    return code, log.read_text(errors="replace")


def _environ_without_uwsgi() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("UWSGI_") and key != "MODEL_VERSION"
    }


def test_a_flipped_byte_in_the_served_artifact_stops_the_server_naming_the_file(
    flow: Flow, tmp_path: Path
) -> None:
    directory = stage(flow, tmp_path / "tampered")
    artifact = directory / "models" / f"{SLUG}-0.2.0.skops"
    content = bytearray(artifact.read_bytes())
    content[len(content) // 2] ^= 0x01
    artifact.write_bytes(bytes(content))
    expected = json.loads((directory / "models" / f"{SLUG}-0.2.0.json").read_text())
    actual = fingerprint(artifact)[0]

    code, output = start_and_expect_exit(flow, directory)
    assert code != 0
    assert (
        f"models/{SLUG}-0.2.0.skops: SHA-256 {actual} does not match its manifest "
        f"({expected['artifact']['sha256']}); refusing to load it"
    ) in output
    assert "need-app requested, destroying the instance" in output


def test_a_threshold_above_the_models_accuracy_stops_the_server_naming_the_metric(
    flow: Flow, tmp_path: Path
) -> None:
    directory = stage(flow, tmp_path / "strict")
    pyproject = directory / "pyproject.toml"
    text = pyproject.read_text()
    assert text.count("min_accuracy = 0.9\n") == 1
    pyproject.write_text(text.replace("min_accuracy = 0.9\n", "min_accuracy = 0.95\n"))

    code, output = start_and_expect_exit(flow, directory)
    assert code != 0
    assert (
        f"models/{SLUG}-0.2.0.json: {SLUG} 0.2.0 fails its thresholds "
        "([tool.mlprod.thresholds] in pyproject.toml): accuracy 0.933333 < min_accuracy 0.95; "
        "refusing to serve it"
    ) in output


# Rollback under load -----------------------------------------------------------------------


@dataclass
class Load:
    """A steady stream of predictions from a few threads, each on one kept-alive connection
    (the generated uwsgi.ini's router keeps it open while the workers are replaced)."""

    port: int
    threads: int = 2
    answers: list[tuple[float, str]] = field(default_factory=list)
    failures: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        self._deadline = time.monotonic() + MAX_LOAD_SECONDS
        self.started = time.monotonic()
        self._workers = [threading.Thread(target=self._loop) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)
        self.stopped = time.monotonic()

    def versions_between(self, start: float, end: float) -> set[str]:
        with self._lock:
            return {version for stamp, version in self.answers if start <= stamp <= end}

    def _loop(self) -> None:
        body = json.dumps({"instances": [INSTANCE]})
        headers = {"Content-Type": "application/json"}
        # http.client reopens it after a close, which counts as a failure below
        connection = http.client.HTTPConnection(server.LOOPBACK, self.port, timeout=30)
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            try:
                connection.request("POST", "/v1/predict", body, headers)
                response = connection.getresponse()
                data = response.read()
                outcome = (
                    json.loads(data)["model"]["version"]
                    if response.status == 200
                    else f"HTTP {response.status}"
                )
                if response.will_close:  # the server ended a connection it was to keep
                    outcome = f"connection closed by the server ({outcome})"
                    connection.close()
            except (OSError, http.client.HTTPException, ValueError, KeyError) as error:
                connection.close()
                outcome = f"{type(error).__name__}: {error}"
            with self._lock:
                if outcome.startswith(("0.", "1.")):
                    self.answers.append((time.monotonic(), outcome))
                else:
                    self.failures.append((time.monotonic(), outcome))
        connection.close()


def served_versions(url: str) -> set[str]:
    """The versions the live workers serve: the ``model_info`` gauges in /metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        line.split('version="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if line.startswith("model_info{") and float(line.split()[-1]) == 1
    }


def wait_until_served(url: str, version: str) -> float:
    """Wait until every live worker serves ``version``; return the time.

    Not "until every worker was replaced": workers recycling under this load are replaced
    all the time, by chain reloads that may have started before the switch was written.
    """
    deadline = time.monotonic() + CHAIN_TIMEOUT
    while time.monotonic() < deadline:
        if served_versions(url) == {version}:
            return time.monotonic()
        time.sleep(0.2)
    pytest.fail(f"not every worker served {version} within {CHAIN_TIMEOUT:.0f} s")


def serve_version(flow: Flow, version: str) -> None:
    result = run([flow.bin_dir / SLUG, "serve-version", version], flow.project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Serving {SLUG} {version}\n")


def test_switching_to_0_1_0_and_back_under_load_fails_no_request(
    flow: Flow, default_server: str
) -> None:
    url = default_server
    port = int(url.rsplit(":", 1)[1])
    try:
        with Load(port) as load:
            time.sleep(1.0)
            switched = time.monotonic()
            serve_version(flow, "0.1.0")
            rolled_back = wait_until_served(url, "0.1.0")
            time.sleep(1.0)
            switched_back = time.monotonic()
            serve_version(flow, "0.2.0")
            restored = wait_until_served(url, "0.2.0")
            time.sleep(max(1.0, MIN_LOAD_SECONDS - (time.monotonic() - load.started)))
    finally:
        (flow.models / "SERVING").unlink(missing_ok=True)

    duration = load.stopped - load.started
    print(
        f"\n{len(load.answers)} answers, {len(load.failures)} failed, in {duration:.1f} s; "
        f"every worker switched {rolled_back - switched:.1f} s and "
        f"{restored - switched_back:.1f} s after serve-version began"
    )
    assert load.failures == []
    assert duration >= MIN_LOAD_SECONDS
    assert load.versions_between(load.started, switched) == {"0.2.0"}
    assert load.versions_between(rolled_back, switched_back) == {"0.1.0"}
    assert load.versions_between(restored, load.stopped) == {"0.2.0"}
    assert {"0.1.0", "0.2.0"} <= load.versions_between(switched, rolled_back)
