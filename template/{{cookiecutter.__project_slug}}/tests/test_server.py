"""The real thing: uWSGI started from uwsgi.ini, serving the trained model over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.model.train import ProjectConfig

LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
INSTANCE = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@dataclass(frozen=True)
class Server:
    url: str
    stats_url: str
    log: Path


def find_uwsgi() -> str | None:
    """The `uwsgi` beside this interpreter (pyuwsgi's), else one on PATH."""
    return shutil.which("uwsgi", path=str(Path(sys.executable).parent)) or shutil.which("uwsgi")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """One request; the status and the decoded JSON body, whatever the status."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"uWSGI exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if call("GET", f"{url}/health/ready")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"uWSGI not ready within {READY_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the master by its pid (die-on-term: a clean exit); SIGKILL if it hangs."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def server(
    project: ProjectConfig,
    models_dir: Path,
    manifest: Manifest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    uwsgi = find_uwsgi()
    if uwsgi is None:
        pytest.skip("uwsgi is not installed (it comes with the `api` extra)")
    port, stats_port = free_port(), free_port()
    environ = {key: value for key, value in os.environ.items() if not key.startswith("UWSGI_")}
    environ |= {
        "HOST": LOOPBACK,
        "PORT": str(port),
        "STATS_PORT": str(stats_port),
        "UWSGI_PROCESSES": "2",
        "MODELS_DIR": str(models_dir),
        "MODEL_NAME": manifest.name,
        "MODEL_VERSION": manifest.version,
    }
    log = tmp_path_factory.mktemp("uwsgi") / "uwsgi.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [uwsgi, "--ini", str(project.root / "uwsgi.ini")],
            cwd=project.root,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://{LOOPBACK}:{port}"
            wait_until_ready(url, process, log)
            yield Server(url=url, stats_url=f"http://{LOOPBACK}:{stats_port}", log=log)
        finally:
            stop(process)


def test_the_server_answers_a_prediction(server: Server, manifest: Manifest) -> None:
    status, body = call("POST", f"{server.url}/v1/predict", {"instances": [INSTANCE]})
    assert status == 200
    assert body == {
        "predictions": ["setosa"],
        "model": {"name": manifest.name, "version": manifest.version},
    }


def test_the_server_names_the_missing_field_in_a_422(server: Server) -> None:
    instance = {k: v for k, v in INSTANCE.items() if k != "petal_width"}
    status, body = call("POST", f"{server.url}/v1/predict", {"instances": [instance]})
    assert status == 422
    assert body["error"]["message"] == "instances[0].petal_width: Field required"


def test_the_server_runs_the_requested_worker_processes(server: Server) -> None:
    with urllib.request.urlopen(server.stats_url, timeout=5) as response:
        stats = json.loads(response.read())
    assert len(stats["workers"]) == 2


def test_the_server_logs_each_prediction_as_one_json_line(server: Server) -> None:
    call("POST", f"{server.url}/v1/predict", {"instances": [INSTANCE, INSTANCE]})
    lines = [line for line in server.log.read_text().splitlines() if line.startswith("{")]
    requests = [json.loads(line) for line in lines if '"message": "request"' in line]
    assert any(
        (entry["path"], entry["status"], entry.get("instances")) == ("/v1/predict", 200, 2)
        for entry in requests
    )
