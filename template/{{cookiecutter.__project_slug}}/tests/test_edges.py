"""The service as an attacker or an unlucky client meets it: over raw sockets, against uWSGI.

One server from uwsgi.ini, two workers, API keys on and /metrics behind them, a short
BODY_TIMEOUT. Requests are written byte for byte, so that path spellings, slow bodies,
oversized announcements and malformed HTTP reach the server exactly as sent.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import json
import select
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from {{ cookiecutter.__package_name }}.api.errors import reject_malformed
from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.model.train import ProjectConfig

from contract import EXAMPLE
from servers import LOOPBACK, free_port, require_uwsgi, uwsgi_environ

# The serving layer, whatever the model: the gates run these in full for the default
# combination only (see docs/development.md); `pytest -m 'not serving'` leaves them out.
pytestmark = pytest.mark.serving

READY_TIMEOUT = 60.0
KEY = "edge-key-0123456789"
BODY_TIMEOUT = 2
BODY = json.dumps({"instances": [EXAMPLE]}).encode()


@dataclass(frozen=True)
class Reply:
    status: int | None
    """None when the server closed the connection without a status line."""
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        return dict(json.loads(self.body))


@dataclass(frozen=True)
class Server:
    port: int
    log: Path
    workers: int

    def exchange(self, raw: bytes, timeout: float = 10.0) -> Reply:
        """Send ``raw`` as it is; the reply, read until the server closes the connection."""
        with socket.create_connection((LOOPBACK, self.port), timeout=timeout) as connection:
            # the server may refuse before the client is done writing
            with contextlib.suppress(OSError):
                connection.sendall(raw)
            return read_reply(connection)


def read_reply(connection: socket.socket) -> Reply:
    data = b""
    try:
        while chunk := connection.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    if not data.startswith(b"HTTP/1."):
        return Reply(None, {}, data)
    return read_reply_from(data)


def http(
    method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    # Connection: close, because `exchange` reads until the server closes: uWSGI's router
    # would otherwise keep the connection open for the client's next request
    lines = [f"{method} {target} HTTP/1.1", f"Host: {LOOPBACK}", "Connection: close"]
    if body or method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture(scope="module")
def server(
    project: ProjectConfig,
    models_dir: Path,
    manifest: Manifest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    uwsgi = require_uwsgi()
    port, stats_port = free_port(), free_port()
    scratch = tmp_path_factory.mktemp("edges")
    environ = uwsgi_environ(models_dir, manifest, port, stats_port, scratch / "metrics") | {
        "API_KEYS": KEY,
        "METRICS_AUTH": "true",
        "BODY_TIMEOUT": str(BODY_TIMEOUT),
    }
    log = scratch / "uwsgi.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [uwsgi, "--ini", str(project.root / "uwsgi.ini")],
            cwd=project.root,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        started = Server(port=port, log=log, workers=2)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if started.exchange(http("GET", "/health/ready"), timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        yield started
    finally:
        process.kill()  # the master, by its pid; its workers go with it
        process.wait()


# Item 1: no spelling of a protected path reaches its resource without a key.
ROUTES = {
    "/v1/predict": ("POST", BODY),
    "/v1/model": ("GET", b""),
    "/metrics": ("GET", b""),
}
SPELLINGS = {
    "plain": lambda path: path,
    "double-slash": lambda path: "/" + path,
    "triple-slash": lambda path: "//" + path,
    "dot-segment": lambda path: "/." + path,
    "inner-double-slash": lambda path: path.replace("/", "//", 2).replace("//", "/", 1),
    "trailing-slash": lambda path: path + "/",
    "encoded-slash": lambda path: "/" + path[1:].replace("/", "%2F"),
    "encoded-leading-slash": lambda path: "/%2F" + path[1:],
    "encoded-letter": lambda path: path[:-1] + f"%{ord(path[-1]):02X}",
    "upper-case": lambda path: path.upper(),
    "capitalised": lambda path: "/" + path[1:].capitalize(),
    "query": lambda path: path + "?x=1",
}


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("route", ROUTES)
def test_no_spelling_of_a_protected_route_skips_the_key(
    server: Server, route: str, spelling: str
) -> None:
    """Without a key: 401 wherever the same spelling with a key would be served, else 404."""
    method, body = ROUTES[route]
    target = SPELLINGS[spelling](route)
    keyed = server.exchange(http(method, target, body, {"X-API-Key": KEY}))
    anonymous = server.exchange(http(method, target, body))
    assert keyed.status in (200, 404), (target, keyed)
    expected = 401 if keyed.status == 200 else 404
    assert anonymous.status == expected, (target, anonymous)
    if spelling == "plain":
        assert keyed.status == 200


# Item 2: slow and oversized bodies.
class SlowClient(threading.Thread):
    """Announces a body and sends it one byte at a time, a byte every `interval` seconds."""

    def __init__(self, port: int, interval: float, duration: float) -> None:
        super().__init__(daemon=True)
        self.port, self.interval, self.duration = port, interval, duration
        self.reply: Reply | None = None

    def run(self) -> None:
        with socket.create_connection((LOOPBACK, self.port), timeout=30) as connection:
            connection.sendall(
                http("POST", "/v1/predict", b"", {"X-API-Key": KEY}).replace(
                    b"Content-Length: 0", f"Content-Length: {len(BODY)}".encode()
                )
            )
            stop = time.monotonic() + self.duration
            for byte in BODY:
                # stop sending once the server has answered, as curl does, and read the answer
                answered = select.select([connection], [], [], 0)[0]
                if time.monotonic() > stop or answered:
                    break
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    break
                time.sleep(self.interval)
            self.reply = read_reply(connection)


def test_slow_clients_do_not_hold_the_workers(server: Server) -> None:
    """More slow clients than workers: probes and predictions are answered within a second."""
    # a byte every 0.7 s: off BODY_TIMEOUT's beat, so that no byte lands just as the server
    # closes after its 408 (a byte into a closed socket makes the kernel reset the
    # connection, and the client loses the answer it had not read yet)
    clients = [SlowClient(server.port, 0.7, 8) for _ in range(server.workers * 2 + 1)]
    for client in clients:
        client.start()
    time.sleep(0.5)
    latencies = []
    until = time.monotonic() + 4
    while time.monotonic() < until:
        for raw in (
            http("GET", "/health/live"),
            http("POST", "/v1/predict", BODY, {"X-API-Key": KEY}),
        ):
            started = time.monotonic()
            reply = server.exchange(raw, timeout=5)
            latencies.append(time.monotonic() - started)
            assert reply.status == 200, reply
        time.sleep(0.1)
    assert max(latencies) < 1.0, max(latencies)
    for client in clients:
        client.join(timeout=30)
    # each slow body took longer than BODY_TIMEOUT: refused with a 408 in the error shape
    for client in clients:
        assert client.reply is not None
        assert client.reply.status == 408, client.reply
        assert client.reply.json()["error"]["code"] == "request_timeout"


def test_a_body_that_stops_arriving_gets_a_408(server: Server) -> None:
    started = time.monotonic()
    reply = server.exchange(
        http("POST", "/v1/predict", BODY, {"X-API-Key": KEY}).replace(
            f"Content-Length: {len(BODY)}".encode(), f"Content-Length: {len(BODY) + 50}".encode()
        )
    )
    assert reply.status == 408, reply
    assert reply.json()["error"]["code"] == "request_timeout"
    assert time.monotonic() - started < 10


def test_a_huge_announced_body_is_refused_at_once(server: Server) -> None:
    """50 MB announced and never sent: the 413 comes without waiting for the body."""
    raw = http("POST", "/v1/predict", b"", {"X-API-Key": KEY}).replace(
        b"Content-Length: 0", b"Content-Length: 52428800"
    )
    started = time.monotonic()
    with socket.create_connection((LOOPBACK, server.port), timeout=10) as connection:
        connection.sendall(raw)
        reply = read_reply(connection)
    assert time.monotonic() - started < 1.0
    assert reply.status == 413, reply
    assert reply.json()["error"]["code"] == "payload_too_large"


def test_a_body_over_the_limit_sent_whole_gets_its_413_not_a_reset(server: Server) -> None:
    """A client that sends all of an oversized body before reading still reads the 413."""
    body = b"x" * 1_200_000  # over the default MAX_BODY_BYTES (1 MiB)
    reply = server.exchange(http("POST", "/v1/predict", body, {"X-API-Key": KEY}))
    assert reply.status == 413, reply
    assert reply.json()["error"]["code"] == "payload_too_large"


# Item 5: malformed HTTP gets a status where one can be given, and the log stays JSON.
def test_a_garbage_request_line_closes_only_its_connection(server: Server) -> None:
    """uWSGI's HTTP router cannot parse it and closes the connection at once, without a status.

    The request never reaches a worker, so nothing is logged for it (no plain-text KeyError,
    no traceback); the next request is served. (Behind `http-socket`, with no router, the
    app answered it with a JSON 400: `reject_malformed`, tested below.)
    """
    started = time.monotonic()
    reply = server.exchange(b"GARBAGE\r\n\r\n")
    assert (reply.status, reply.body) == (None, b""), reply
    assert time.monotonic() - started < 1.0
    assert server.exchange(http("GET", "/health/live")).status == 200
    log = server.log.read_text(errors="replace")
    assert "KeyError" not in log
    assert "Traceback" not in log


def test_a_request_uwsgi_could_not_parse_gets_a_json_400_from_the_app() -> None:
    """What a WSGI server hands on without REQUEST_METHOD gets the one error shape."""
    answered: list[str] = []
    body = b"".join(
        reject_malformed(lambda environ, start: [b"not reached"])(
            {"wsgi.input": io.BytesIO()}, lambda status, headers: answered.append(status)
        )
    )
    assert answered == ["400 Bad Request"]
    assert json.loads(body)["error"]["code"] == "bad_request"


def test_expect_100_continue_is_answered_before_the_body(server: Server) -> None:
    """curl and others wait up to a second for `100 Continue` before sending a body."""
    head = http("POST", "/v1/predict", b"", {"X-API-Key": KEY, "Expect": "100-continue"})
    head = head.replace(b"Content-Length: 0", f"Content-Length: {len(BODY)}".encode())
    with socket.create_connection((LOOPBACK, server.port), timeout=10) as connection:
        connection.sendall(head)
        assert select.select([connection], [], [], 0.5)[0], "no 100 Continue within 0.5 s"
        assert connection.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        connection.sendall(BODY)
        reply = read_reply(connection)
    assert reply.status == 200, reply


def keep_alive_timeout(project: ProjectConfig) -> float:
    """uwsgi.ini's `http-keepalive`: how long the router keeps an idle connection open."""
    ini = configparser.ConfigParser(strict=False, interpolation=None)
    ini.read(project.root / "uwsgi.ini")
    return float(ini["uwsgi"]["http-keepalive"])


def read_one_reply(connection: socket.socket) -> Reply:
    """One response on a connection that stays open: its head, then Content-Length bytes."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection after {data!r}"
        data += chunk
    reply = read_reply_from(data)
    length = int(reply.headers["content-length"])
    body = reply.body
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, "the server closed the connection mid-body"
        body += chunk
    return Reply(reply.status, reply.headers, body)


def read_reply_from(data: bytes) -> Reply:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(int(status_line.split()[1]), headers, body)


def test_a_connection_is_kept_alive_until_it_idles_past_the_timeout(
    server: Server, project: ProjectConfig
) -> None:
    """Requests reuse one connection; idle past `http-keepalive` it is closed (FIN, no reset)."""
    idle = keep_alive_timeout(project)
    raw = http("POST", "/v1/predict", BODY, {"X-API-Key": KEY})
    raw = raw.replace(b"Connection: close\r\n", b"")
    with socket.create_connection((LOOPBACK, server.port), timeout=idle + 10) as connection:
        for pause in (0, 0, idle - 1.5):
            time.sleep(pause)
            connection.sendall(raw)
            reply = read_one_reply(connection)
            assert reply.status == 200, reply
            assert reply.headers.get("connection", "").lower() != "close", reply
        started = time.monotonic()
        assert connection.recv(1024) == b""  # an orderly close: a reset would raise here
        waited = time.monotonic() - started
    assert idle - 1 <= waited < idle + 2, waited


def test_two_hundred_headers_are_served(server: Server) -> None:
    headers = {f"X-Header-{number}": "v" for number in range(200)}
    reply = server.exchange(http("GET", "/health/live", headers=headers))
    assert reply.status == 200, reply


def test_a_header_block_past_the_buffer_closes_only_its_connection(server: Server) -> None:
    """Past uwsgi.ini's buffer-size uWSGI cannot parse the request: no status, no harm."""
    reply = server.exchange(http("GET", "/health/live", headers={"X-Big": "a" * 65536}))
    assert reply.status is None, reply
    assert server.exchange(http("GET", "/health/live")).status == 200
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log
