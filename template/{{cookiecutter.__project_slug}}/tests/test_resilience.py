"""uWSGI under trouble: killed workers, a hung request, recycling, and SIGTERM.

Each test starts its own uWSGI from uwsgi.ini with two workers on a free loopback port,
waits until both workers accept, and stops it by its pid. The hung request comes from a
test-only patch (`stall_model`) that the test imports into each worker.
"""

from __future__ import annotations

import configparser
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.__package_name }}.model import selection
from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.model.train import ProjectConfig

import stall_model
from contract import EXAMPLE, NUMBER
from servers import LOOPBACK, free_port, require_uwsgi, uwsgi_environ

# The serving layer, whatever the model: the gates run these in full for the default
# combination only (see docs/development.md); `pytest -m 'not serving'` leaves them out.
pytestmark = pytest.mark.serving

READY_TIMEOUT = 60.0
BODY = json.dumps({"instances": [EXAMPLE]})
STALLING_BODY = json.dumps({"instances": [{**EXAMPLE, NUMBER.name: stall_model.STALL_AT}]})
TESTS = Path(__file__).parent


@dataclass
class Server:
    """A running uWSGI master, its ports, its log and its metrics directory."""

    process: subprocess.Popen[bytes]
    port: int
    stats_port: int
    log: Path
    metrics_dir: Path

    def workers(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{self.stats_port}", timeout=5) as answer:
            return json.loads(answer.read())["workers"]

    def wait_until_all_accept(self, *, other_than: Sequence[int] = ()) -> list[int]:
        """Wait until every worker has loaded the app; their pids (none of `other_than`)."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"uWSGI exited with {self.process.returncode}:\n{self.tail()}")
            try:
                workers = self.workers()
            except OSError:
                workers = []
            pids = [worker["pid"] for worker in workers]
            if (
                workers
                and all(worker["accepting"] and worker["pid"] > 0 for worker in workers)
                and not set(pids) & set(other_than)
            ):
                return pids
            time.sleep(0.2)
        pytest.fail(f"the workers did not all accept within {READY_TIMEOUT:.0f} s:\n{self.tail()}")

    def pids(self) -> list[int]:
        """The pids of the workers running now (a worker being respawned has none)."""
        return [worker["pid"] for worker in self.workers() if worker["pid"] > 0]

    def wait_until_gone(self, pids: Sequence[int], *logged: str) -> None:
        """Until none of `pids` is a worker any more and the log says one of `logged`."""
        deadline = time.monotonic() + READY_TIMEOUT
        while set(pids) & set(self.pids()) or not any(
            line in self.tail(100_000) for line in logged
        ):
            if time.monotonic() > deadline:
                pytest.fail(f"{pids} still serving, or no {logged!r}:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self, size: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-size:]


class CountedConnection(http.client.HTTPConnection):
    """An HTTP connection that counts the TCP connections it opens."""

    opened = 0

    def connect(self) -> None:
        super().connect()
        self.opened += 1


@dataclass
class Load:
    """Clients sending predictions until told to stop; what they saw.

    Each client keeps one connection open for as long as the server does, and opens a new
    one only when the server has closed it: `connections` counts them all.
    """

    port: int
    clients: int = 4
    ok: int = 0
    errors: list[str] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)
    """When each failed request was sent (`time.monotonic()`), in the order of `errors`."""
    connections: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.ok + len(self.errors)

    def run(self) -> None:
        """One client: one connection, reopened only when the server has closed it."""
        connection = CountedConnection(LOOPBACK, self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        while not self._stop.is_set():
            sent = time.monotonic()
            try:
                connection.request("POST", "/v1/predict", BODY, headers)
                response = connection.getresponse()
                response.read()
                outcome = None if response.status == 200 else f"HTTP {response.status}"
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                outcome = type(error).__name__
            with self._lock:
                if outcome is None:
                    self.ok += 1
                else:
                    self.errors.append(outcome)
                    self.sent.append(sent)
        connection.close()
        with self._lock:
            self.connections += connection.opened

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=self.run) for _ in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def failed_if_sent_after(self, moment: float) -> list[str]:
        """The failures of requests sent after `moment` (none was in flight then)."""
        failures = zip(self.errors, self.sent, strict=True)
        return [error for error, sent in failures if sent > moment]

    def wait_for(self, requests: int, timeout: float = 60.0) -> None:
        """Until `requests` more have been answered or have failed."""
        target, deadline = self.total + requests, time.monotonic() + timeout
        while self.total < target and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.total >= target, f"only {self.total} of {target} requests in {timeout} s"


def mercy(project: ProjectConfig) -> float:
    """`worker-reload-mercy` from uwsgi.ini: how long a stopping worker may take."""
    ini = configparser.ConfigParser(strict=False, interpolation=None)
    ini.read(project.root / "uwsgi.ini")
    return float(ini["uwsgi"]["worker-reload-mercy"])


@pytest.fixture
def serve(project: ProjectConfig, tmp_path: Path, manifest: Manifest) -> Iterator[Any]:
    """Start uWSGI from uwsgi.ini with two workers; every server is stopped at the end."""
    uwsgi = require_uwsgi()
    started: list[Server] = []

    def start(
        models_dir: Path, env: Mapping[str, str] | None = None, args: Sequence[str] = ()
    ) -> Server:
        port, stats_port = free_port(), free_port()
        metrics_dir = tmp_path / f"metrics-{port}"
        environ = uwsgi_environ(models_dir, manifest, port, stats_port, metrics_dir) | {
            "LOG_LEVEL": "WARNING",  # thousands of requests: keep the log to what matters
            **(env or {}),
        }
        metrics_dir.mkdir()
        log = tmp_path / f"uwsgi-{port}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [uwsgi, "--ini", str(project.root / "uwsgi.ini"), *args],
                cwd=project.root,
                env=environ,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        server = Server(
            process=process, port=port, stats_port=stats_port, log=log, metrics_dir=metrics_dir
        )
        started.append(server)
        server.wait_until_all_accept()
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()  # the master; its workers exit when it is gone
            server.process.wait()


def post(port: int, body: str, timeout: float = 30.0) -> int | str:
    """One prediction on a new connection: the status, or the error's name."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request("POST", "/v1/predict", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException) as error:
        return type(error).__name__
    finally:
        connection.close()


def test_a_worker_killed_under_load_is_replaced_and_only_its_request_fails(
    serve: Any, models_dir: Path, record_property: Any
) -> None:
    server = serve(models_dir)
    victim = server.workers()[0]["pid"]
    with Load(server.port) as load:
        load.wait_for(200)
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        pids = server.wait_until_all_accept(other_than=[victim])
        load.wait_for(200)
    record_property("sigkill_errors", len(load.errors))
    print(f"SIGKILL under load: {load.total} requests, {len(load.errors)} failed: {load.errors}")
    assert victim not in pids
    assert len(pids) == 2
    # Only requests in flight on the killed worker can fail: the one it was computing and
    # any its gevent loop had taken meanwhile (usually none, at most one per client).
    assert load.failed_if_sent_after(killed) == [], load.errors
    assert len(load.errors) <= load.clients, load.errors
    assert "killed by signal 9" in server.tail()


def test_a_hung_request_is_killed_by_harakiri_while_the_other_worker_answers(
    serve: Any, models_dir: Path, tmp_path: Path
) -> None:
    harakiri = 2
    marker = tmp_path / "stalled.pid"
    server = serve(
        models_dir,
        env={
            "UWSGI_HARAKIRI": str(harakiri),
            "PYTHONPATH": str(TESTS),
            "UWSGI_IMPORT": "stall_worker",
            "STALL_MARKER": str(marker),
        },
    )
    outcome: list[int | str] = []
    started = time.monotonic()
    hung = threading.Thread(target=lambda: outcome.append(post(server.port, STALLING_BODY)))
    hung.start()
    # Only once its worker is stuck: a request it had taken in the same instant (its gevent
    # loop accepts while it reads) would be in flight there and lost with it, by design.
    while not marker.exists() and time.monotonic() - started < 30:
        time.sleep(0.01)
    assert marker.exists(), "the stalling request never reached the model"
    answered = []
    while hung.is_alive() and time.monotonic() - started < 60:
        answered.append(post(server.port, BODY))
    hung.join(timeout=5)
    elapsed = time.monotonic() - started
    assert len(outcome) == 1
    assert outcome[0] != 200, outcome  # its worker died: no answer
    assert harakiri <= elapsed < 60, elapsed
    assert answered
    assert set(answered) == {200}, answered
    assert "HARAKIRI" in server.tail()
    server.wait_until_all_accept()
    assert post(server.port, BODY) == 200


def test_a_hung_request_is_killed_even_after_another_finished_while_its_body_came(
    serve: Any, models_dir: Path
) -> None:
    """Under gevent a request finishing disarms uWSGI's harakiri; the app re-arms it."""
    harakiri = 2
    server = serve(
        models_dir,
        env={
            "UWSGI_HARAKIRI": str(harakiri),
            "PYTHONPATH": str(TESTS),
            "UWSGI_IMPORT": "stall_worker",
            "UWSGI_PROCESSES": "1",
        },
    )
    body = STALLING_BODY.encode()
    head = (
        "POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((LOOPBACK, server.port), timeout=60) as hung:
        hung.sendall(head + body[:10])
        time.sleep(0.5)
        assert post(server.port, BODY) == 200  # the one worker answers it meanwhile
        started = time.monotonic()
        hung.sendall(body[10:])
        try:
            reply = hung.recv(1024)
        except ConnectionResetError:
            reply = b""
        elapsed = time.monotonic() - started
    assert reply == b"", reply  # its worker was killed: no answer
    # uWSGI counts harakiri in whole seconds of its clock: it fires 1 to 2 s after arming
    assert harakiri - 1 <= elapsed < harakiri + 10, elapsed
    assert "HARAKIRI" in server.tail()


def _kill_a_live_worker(server: Any) -> int:
    """SIGKILL a worker; workers recycling meanwhile may exit first, so try the next one."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for pid in server.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # recycled between listing and killing
                continue
            return pid
        time.sleep(0.05)
    raise AssertionError(f"no live worker to kill\n{server.tail()}")


def test_kept_alive_clients_lose_nothing_to_recycles_a_chain_reload_and_a_kill_only_its_own(
    serve: Any, models_dir: Path, record_property: Any
) -> None:
    """uWSGI's HTTP router holds the clients' connections; workers come and go behind it.

    Four clients, each on one kept-alive connection: over 20 worker recycles
    (`max-requests`) and one chain reload, no request fails and no connection is closed;
    a worker SIGKILLed costs only the requests it held (none sent after the kill fails).
    """
    server = serve(
        models_dir,
        env={"UWSGI_MAX_REQUESTS": "40"},
        # every worker recycles at 40 requests (the ini spreads them 5000 apart), at once
        args=["--max-requests-delta", "0", "--min-worker-lifetime", "1"],
    )
    first = set(server.wait_until_all_accept())
    seen = set(first)
    with Load(server.port, clients=4) as load:
        deadline = time.monotonic() + 240
        while len(seen - first) < 20 and time.monotonic() < deadline:
            seen |= set(server.pids())
            time.sleep(0.05)
        recycles = len(seen - first)
        recycle_errors = list(load.errors)
        # a chain reload, as `serve-version` and RECYCLE_REQUESTS make (touch-chain-reload);
        # workers keep recycling meanwhile, so wait for the log and for every pid to change
        before = server.pids()
        (server.metrics_dir / "recycle").touch()
        server.wait_until_gone(before, "chain reloading complete")
        load.wait_for(100)
        reload_errors = list(load.errors)
        victim = _kill_a_live_worker(server)
        killed = time.monotonic()
        # a worker already leaving (recycled at 40 requests) is logged as killed successfully
        server.wait_until_gone(
            [victim], "killed by signal 9", f"killed successfully (pid: {victim})"
        )
        load.wait_for(100)
    record_property("keep_alive_recycles", recycles)
    print(
        f"{recycles} recycles, a chain reload and a SIGKILL: {load.total} requests on "
        f"{load.connections} connections, failed: {load.errors}"
    )
    assert recycles >= 20, server.tail()
    assert recycle_errors == []
    assert reload_errors == []
    # only the killed worker's requests in flight: the one it was computing and any its
    # gevent loop had taken meanwhile (usually none), never one sent after the kill
    assert load.failed_if_sent_after(killed) == [], load.errors
    assert len(load.errors) <= load.clients, load.errors
    # kept alive throughout: a new connection only where the killed worker's request failed
    assert load.connections <= load.clients + len(load.errors), load.connections


def test_recycled_workers_go_one_at_a_time_and_no_request_fails(
    serve: Any, models_dir: Path
) -> None:
    """Workers sharing the load reach RECYCLE_REQUESTS together; never two are out at once."""
    server = serve(models_dir, env={"RECYCLE_REQUESTS": "60"})
    first = {worker["pid"] for worker in server.workers()}
    most_out = 0
    seen: set[int] = set()
    with Load(server.port, clients=2) as load:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(seen - first) < 4:
            workers = server.workers()
            out = [w for w in workers if not w["accepting"] or w["pid"] <= 0]
            most_out = max(most_out, len(out))
            seen |= {w["pid"] for w in workers if w["pid"] > 0}
            time.sleep(0.02)
    print(f"recycles: {len(seen - first)} new workers; at most {most_out} out at once")
    assert len(seen - first) >= 4, server.tail()  # every worker recycled twice
    assert most_out <= 1
    assert load.errors == [], load.errors


def test_a_switch_that_meets_a_running_chain_reload_still_reaches_every_worker(
    serve: Any, two_versions: Path, tmp_path: Path
) -> None:
    """uWSGI ignores a chain-reload touch while a chain reload runs; the workers ask again.

    A recycle's chain reload replaces worker 1 (it loads 0.1.0); the switch to 0.2.0
    comes while worker 2, slow to start (`slow_start`), is still being replaced. uWSGI
    ignores the switch's touch, and worker 1 would serve 0.1.0 until its next restart
    (the gates saw every answer after a switch come from the old version). Worker 1 sees
    that ``SERVING`` names another version and asks for a chain reload until one runs.
    """
    registry = Path(shutil.copytree(two_versions, tmp_path / "models"))
    server = serve(
        registry,
        env={
            "MODEL_VERSION": "0.1.0",
            # no recycle but the one this test makes
            "RECYCLE_REQUESTS": "100000000",
            "UWSGI_MAX_REQUESTS": "100000000",
            "PYTHONPATH": str(TESTS),
            "UWSGI_IMPORT": "slow_start",
            "SLOW_START_SECONDS": "3",
        },
    )
    assert served_versions(server.port) == {"0.1.0"}
    trigger = server.metrics_dir / "recycle"
    [first, second] = server.workers()
    with Load(server.port, clients=1) as load:
        selection.touch_trigger(trigger)  # what a worker does at RECYCLE_REQUESTS
        deadline = time.monotonic() + READY_TIMEOUT
        while not replaced(server, first):
            assert time.monotonic() < deadline, server.tail()
            time.sleep(0.05)
        # what `serve-version 0.2.0` does (it touches models/.reload, watched the same way)
        selection.record_choice(registry, "0.2.0")
        selection.touch_trigger(trigger)
        switched = time.monotonic()
        while "but chain reload is already running" not in server.tail(100_000):
            assert time.monotonic() - switched < 30, f"no chain reload running:\n{server.tail()}"
            time.sleep(0.1)
        versions = served_versions(server.port)
        while versions != {"0.2.0"} and time.monotonic() - switched < 60:
            time.sleep(0.5)
            versions = served_versions(server.port)
        converged = time.monotonic() - switched
        answers = {predicted_version(server.port) for _ in range(20)}
    print(f"every worker served 0.2.0 {converged:.1f} s after the switch; {load.total} requests")
    assert versions == {"0.2.0"}, f"the workers serve {versions}:\n{server.tail()}"
    assert answers == {"0.2.0"}
    assert {worker["pid"] for worker in server.workers()}.isdisjoint({first["pid"], second["pid"]})
    assert load.errors == [], load.errors


def replaced(server: Server, worker: dict[str, Any]) -> bool:
    """Whether `worker`'s slot has a new process that accepts."""
    return any(
        now["id"] == worker["id"] and now["pid"] not in (0, worker["pid"]) and now["accepting"]
        for now in server.workers()
    )


def served_versions(port: int) -> set[str]:
    """The versions the live workers serve, from the ``model_info`` gauge in /metrics."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    lines = [line for line in text.splitlines() if line.startswith("model_info{")]
    return {
        line.split('version="', 1)[1].split('"', 1)[0]
        for line in lines
        if float(line.split()[-1]) == 1
    }


def predicted_version(port: int) -> str:
    """The model version that answers one prediction, on a new connection."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    try:
        connection.request("POST", "/v1/predict", BODY, {"Content-Type": "application/json"})
        return str(json.loads(connection.getresponse().read())["model"]["version"])
    finally:
        connection.close()


def test_an_artifact_broken_on_disk_takes_no_worker_down(
    serve: Any, models_dir: Path, manifest: Manifest, tmp_path: Path
) -> None:
    """A worker respawned after the file broke serves the copy verified at start.

    Readiness and /metrics report the problem until the file is put back.
    """
    registry_copy = tmp_path / "models"
    shutil.copytree(models_dir, registry_copy)
    artifact = registry_copy / manifest.artifact.file
    good = artifact.read_bytes()
    server = serve(registry_copy)
    before = {worker["pid"] for worker in server.workers()}
    victim = min(before)
    with Load(server.port) as load:
        load.wait_for(100)
        artifact.write_bytes(b"not the model that was verified")
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        pids = server.wait_until_all_accept(other_than=[victim])
        load.wait_for(200)
        ready = [get(server.port, "/health/ready") for _ in range(4)]
        changed = metric(server.port, "model_artifact_changed")
        artifact.write_bytes(good)
        load.wait_for(100)
        ready_again = [get(server.port, "/health/ready")[0] for _ in range(4)]
        changed_again = metric(server.port, "model_artifact_changed")
    # only what the killed worker held (at most one per client), none sent after the kill
    assert load.failed_if_sent_after(killed) == [], load.errors
    assert len(load.errors) <= load.clients, load.errors
    assert server.process.poll() is None
    [new] = set(pids) - before
    served = {worker["pid"]: worker["requests"] for worker in server.workers()}
    assert served[new] > 0, "the respawned worker served nothing"
    for status, body in ready:
        assert status == 503
        assert body["error"]["code"] == "not_ready"
        assert manifest.artifact.file in body["error"]["message"]
        assert "serving the copy verified at start" in body["error"]["message"]
    assert changed == 1
    assert set(ready_again) == {200}
    assert changed_again == 0
    assert "model artifact changed on disk" in server.tail()


def get(port: int, path: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def metric(port: int, name: str) -> float:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    [value] = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(value)


def test_sigterm_stops_the_server_cleanly_within_the_mercy_period(
    serve: Any, models_dir: Path, project: ProjectConfig
) -> None:
    server = serve(models_dir)
    pids = [worker["pid"] for worker in server.workers()]
    assert post(server.port, BODY) == 200
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    returncode = server.process.wait(timeout=mercy(project) + 10)
    elapsed = time.monotonic() - started
    assert returncode == 0, server.tail()
    assert elapsed < mercy(project), elapsed
    assert "goodbye to uWSGI" in server.tail()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
