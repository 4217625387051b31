"""The real thing: uWSGI started from uwsgi.ini, serving the trained model over HTTP.

Two worker processes: the metrics a scrape returns must add up what both counted.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.model.train import ProjectConfig

from contract import CLASSIFIER, EXAMPLE, LAST
from servers import LOOPBACK, free_port, require_uwsgi, uwsgi_environ

READY_TIMEOUT = 60.0  # a worker loads the model after fork: slow on a busy machine
STOP_TIMEOUT = 15.0
INSTANCE = EXAMPLE


@dataclass(frozen=True)
class Server:
    url: str
    stats_url: str
    log: Path
    metrics_dir: Path


def call(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One request; the status and the decoded JSON body, whatever the status."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def scrape(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The server's metrics, by sample name and sorted labels."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def workers(server: Server) -> list[dict[str, Any]]:
    """Each worker's pid, status and request count, from uWSGI's stats server."""
    with urllib.request.urlopen(server.stats_url, timeout=5) as response:
        return json.loads(response.read())["workers"]


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
    uwsgi = require_uwsgi()
    port, stats_port = free_port(), free_port()
    metrics_dir = tmp_path_factory.mktemp("metrics")
    stale = metrics_dir / "counter_999999.db"
    stale.write_bytes(b"left by an earlier run")
    environ = uwsgi_environ(models_dir, manifest, port, stats_port, metrics_dir)
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
            assert not stale.exists(), "uwsgi.ini must empty the metrics directory at start"
            stats_url = f"http://{LOOPBACK}:{stats_port}"
            yield Server(url=url, stats_url=stats_url, log=log, metrics_dir=metrics_dir)
        finally:
            stop(process)


def test_the_server_answers_a_prediction(server: Server, manifest: Manifest) -> None:
    status, body = call("POST", f"{server.url}/v1/predict", {"instances": [INSTANCE]})
    assert status == 200
    assert body["model"] == {"name": manifest.name, "version": manifest.version}
    [prediction] = body["predictions"]
    if CLASSIFIER:
        assert prediction in manifest.output.classes
    else:
        assert isinstance(prediction, float)


def test_the_server_names_the_missing_field_in_a_422(server: Server) -> None:
    instance = {k: v for k, v in INSTANCE.items() if k != LAST}
    status, body = call("POST", f"{server.url}/v1/predict", {"instances": [instance]})
    assert status == 422
    assert body["error"]["message"] == f"instances[0].{LAST}: Field required"


def test_the_server_runs_the_requested_worker_processes(server: Server) -> None:
    assert len(workers(server)) == 2


def test_the_server_logs_each_prediction_as_one_json_line(
    server: Server, manifest: Manifest
) -> None:
    status, _ = call(
        "POST",
        f"{server.url}/v1/predict",
        {"instances": [INSTANCE, INSTANCE]},
        headers={"X-Request-ID": "server-log-1"},
    )
    assert status == 200
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line[:1] == "{"]
    [entry] = [line for line in lines if line.get("request_id") == "server-log-1"]
    assert entry["message"] == "request"
    assert (entry["model_name"], entry["model_version"]) == (manifest.name, manifest.version)
    assert (entry["status"], entry["instances"]) == (200, 2)
    assert len(entry["predictions"]) == 2
    assert entry["predictions"][0] == entry["predictions"][1]


def wait_until_every_worker_has_loaded(server: Server) -> None:
    """Workers load the app after fork (lazy-apps); /health/ready answers with the first."""
    deadline = time.monotonic() + READY_TIMEOUT
    while not all(worker["apps"] for worker in workers(server)):
        assert time.monotonic() < deadline, f"a worker never loaded the app: {workers(server)}"
        time.sleep(0.1)


def test_metrics_add_up_the_counts_of_every_worker(server: Server) -> None:
    """Predictions go to both workers; any scrape reports the total of the two."""
    wait_until_every_worker_has_loaded(server)
    before = scrape(server)
    served = {worker["pid"]: worker["requests"] for worker in workers(server)}
    sent = 0
    while sent < 10 or any(
        worker["requests"] == served[worker["pid"]] for worker in workers(server)
    ):
        assert sent < 200, f"the requests never reached both workers: {workers(server)}"
        assert call("POST", f"{server.url}/v1/predict", {"instances": [INSTANCE]})[0] == 200
        sent += 1
    after = scrape(server)
    route = (("method", "POST"), ("route", "/v1/predict"), ("status", "200"))
    for key in [("model_instances_total", ()), ("http_requests_total", route)]:
        assert after[key] - before.get(key, 0) == sent, key
    predicted = "model_predictions_total" if CLASSIFIER else "model_prediction_value_count"
    total = sum(value for (name, _), value in after.items() if name == predicted)
    assert total - sum(value for (name, _), value in before.items() if name == predicted) == sent


def test_a_worker_that_exits_is_marked_dead_and_its_counts_kept(server: Server) -> None:
    """A recycled worker's live gauges go (no stale model_info); its counters stay."""
    wait_until_every_worker_has_loaded(server)
    instances = scrape(server)[("model_instances_total", ())]
    leaving = workers(server)[0]["pid"]
    assert (server.metrics_dir / f"gauge_livemax_{leaving}.db").exists()
    os.kill(leaving, signal.SIGHUP)  # uWSGI: this worker exits gracefully and is respawned
    deadline = time.monotonic() + READY_TIMEOUT
    while (server.metrics_dir / f"gauge_livemax_{leaving}.db").exists():
        assert time.monotonic() < deadline, "the exiting worker did not mark itself dead"
        time.sleep(0.1)
    assert scrape(server)[("model_instances_total", ())] == instances


def test_the_workers_warn_when_they_run_as_root(server: Server) -> None:
    """Each worker says so at start when it runs as root; as any other user, nothing."""
    root = os.geteuid() == 0
    warnings = [
        json.loads(line)
        for line in server.log.read_text().splitlines()
        if line[:1] == "{" and "runs as root" in line
    ]
    assert bool(warnings) == root
    if root:
        assert warnings[0]["level"] == "WARNING"
        assert "UWSGI_UID" in warnings[0]["message"]


def port_below_a_busy_one() -> tuple[int, socket.socket]:
    """A free port PORT whose PORT + 1 another listener holds; that listener, to close."""
    for _ in range(50):
        busy = socket.socket()
        busy.bind((LOOPBACK, 0))
        busy.listen()
        port = busy.getsockname()[1] - 1
        with socket.socket() as probe:
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                busy.close()
                continue
        return port, busy
    pytest.fail("found no free port just below a busy one")


def unix_stats(path: Path) -> dict[str, Any]:
    """uWSGI's stats, asked over its unix socket with one HTTP/1.0 request."""
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(5)
        client.connect(str(path))
        client.sendall(b"GET / HTTP/1.0\r\n\r\n")
        reply = b""
        while chunk := client.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200"), head
    return json.loads(body)


def test_a_server_starts_when_the_port_above_its_own_is_taken(
    project: ProjectConfig,
    models_dir: Path,
    manifest: Manifest,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """STATS_PORT unset: the stats go to a unix socket, so PORT + 1 being busy is no matter."""
    uwsgi = require_uwsgi()
    port, busy = port_below_a_busy_one()
    metrics_dir = tmp_path_factory.mktemp("metrics")
    environ = uwsgi_environ(models_dir, manifest, port, 0, metrics_dir)
    del environ["STATS_PORT"]
    log = tmp_path_factory.mktemp("uwsgi") / "uwsgi.log"
    with busy, log.open("wb") as output:
        process = subprocess.Popen(
            [uwsgi, "--ini", str(project.root / "uwsgi.ini")],
            cwd=project.root,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(f"http://{LOOPBACK}:{port}", process, log)
            stats = unix_stats(metrics_dir / "stats.sock")
            assert len(stats["workers"]) == 2
        finally:
            stop(process)
