"""What the service's production features cost: the full service against a bare WSGI function.

Both run under uWSGI from this project's uwsgi.ini with one worker; only the bare one's
``module`` differs (bare_wsgi.py). The full service runs as in production: validation,
one JSON log line per request (to a file), multi-process metrics, an API key checked.
One client, one connection at a time, the same request body (the manifest's example
instance), measured in interleaved rounds so that both see the same machine. The client
keeps its connection while the server allows it (uwsgi.ini's HTTP router keeps it alive)
and reconnects when the server answers ``Connection: close``; ``--http11`` serves both
from a copy of uwsgi.ini whose workers keep the connections themselves (``http11-socket``,
no router and no gevent: the stack's limit), to measure the framework alone.
Worker recycling (``RECYCLE_REQUESTS`` and ``max-requests``) is pushed past the run for
both, so that no model reload falls inside a measurement.

    .venv/bin/python benchmarks/overhead.py [--seconds 5] [--rounds 3] [--http11]

It prints, per round, requests per second and the worker's CPU time per request (from
/proc, on Linux; the router's share is not in it), then the medians and their ratios:
the target is at least 0.8. CPU
time per request is the steadier figure on a machine busy with other work; requests per
second also count the client and the network. It measures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
API_KEY = "benchmark-key-0123456789"
READY_TIMEOUT = 120.0
WARM_UP = 0.5
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:\s*close", re.IGNORECASE)
_ROUTER = re.compile(r"^http\s*=", re.MULTILINE)
# the router's own settings and the workers' socket behind it
_ROUTER_LINES = re.compile(r"^(http-[a-z-]+|socket)\s*=.*$", re.MULTILINE)
# uWSGI's gevent loop does not read a second request on a kept-alive http11-socket connection
_GEVENT = re.compile(r"^gevent\s*=.*$", re.MULTILINE)


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    stats_port: int


@dataclass(frozen=True)
class Measurement:
    rate: float
    """Requests per second."""
    cpu_us: float | None
    """The worker's CPU time per request, in microseconds; None where /proc is missing."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    uwsgi = args.uwsgi or shutil.which("uwsgi", path=str(Path(sys.executable).parent))
    if uwsgi is None:
        print("error: no uwsgi beside this interpreter; install the project's api extra")
        return 1
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="overhead-")))
        ini = _http11_ini(scratch) if args.http11 else PROJECT / "uwsgi.ini"
        full = stack.enter_context(
            _serve(uwsgi, ini, "full", scratch, {"API_KEYS": API_KEY, "LOG_LEVEL": "INFO"}, [])
        )
        model_request = (
            f"GET /v1/model HTTP/1.1\r\nHost: {LOOPBACK}\r\nAuthorization: Bearer {API_KEY}\r\n\r\n"
        ).encode()
        manifest = json.loads(_wait_until_answering(full, model_request))
        instance = manifest["input_schema"]["example"]
        body = json.dumps({"instances": [instance]}).encode()
        models_dir = PROJECT / os.environ.get("MODELS_DIR", "models")
        manifest_path = models_dir / f"{manifest['name']}-{manifest['version']}.json"
        bare = stack.enter_context(
            _serve(
                uwsgi,
                ini,
                "bare",
                scratch,
                {"BARE_WSGI_MANIFEST": str(manifest_path)},
                # the same uwsgi.ini; only the application differs
                ["--pythonpath", str(Path(__file__).parent), "--module", "bare_wsgi:application"],
            )
        )
        requests = {
            "bare": _request(body, {}),
            "full": _request(body, {"Authorization": f"Bearer {API_KEY}"}),
        }
        servers = {"bare": bare, "full": full}
        answers = {
            name: json.loads(_wait_until_answering(server, requests[name]))["predictions"]
            for name, server in servers.items()
        }
        if answers["bare"] != answers["full"]:
            print(f"error: the two servers answer differently: {answers}")
            return 1
        connections = "http11-socket, no router" if args.http11 else "as uwsgi.ini has them"
        print(
            f"{manifest['name']} {manifest['version']}, one uWSGI worker each, one connection "
            f"at a time ({connections}), {len(body)}-byte body, "
            f"{args.rounds} x {args.seconds:g} s per server"
        )
        results: dict[str, list[Measurement]] = {"bare": [], "full": []}
        for round_number in range(args.rounds):
            order = ["bare", "full"] if round_number % 2 == 0 else ["full", "bare"]
            for name in order:
                result = _measure(servers[name], requests[name], args.seconds)
                results[name].append(result)
                print(f"  round {round_number + 1}  {name:<4}  {_figures(result)}")
        bare, full = (_median(results[name]) for name in ("bare", "full"))
        print(f"median    bare  {_figures(bare)}  (bare WSGI function, same model)")
        print(f"median    full  {_figures(full)}  (validation, JSON log, metrics, API key)")
        print(
            f"ratio     full / bare = {full.rate / bare.rate:.2f} in req/s  (target: at least 0.80)"
        )
        if bare.cpu_us and full.cpu_us:
            print(
                f"          bare / full = {bare.cpu_us / full.cpu_us:.2f} in server CPU per request"
            )
            cost = full.cpu_us - bare.cpu_us
            print(f"the service's own work: {cost:.0f} us of CPU per request")
    return 0


def _figures(result: Measurement) -> str:
    cpu = "" if result.cpu_us is None else f"  {result.cpu_us:6.0f} us CPU/request"
    return f"{result.rate:8.0f} req/s{cpu}"


def _median(results: list[Measurement]) -> Measurement:
    cpus = [result.cpu_us for result in results if result.cpu_us is not None]
    return Measurement(
        statistics.median(result.rate for result in results),
        statistics.median(cpus) if len(cpus) == len(results) else None,
    )


def _http11_ini(scratch: Path) -> Path:
    """A copy of uwsgi.ini whose workers keep connections alive themselves: no router, no gevent.

    Under gevent, uWSGI answers the first request of a kept-alive http11-socket connection
    and never reads the second; the worker then serves one connection at a time.
    """
    text = _ROUTER_LINES.sub("", (PROJECT / "uwsgi.ini").read_text())
    text = _GEVENT.sub("", _ROUTER.sub("http11-socket =", text))
    copy = scratch / "uwsgi-http11.ini"
    copy.write_text(text)
    return copy


@contextmanager
def _serve(
    uwsgi: str, ini: Path, name: str, scratch: Path, env: dict[str, str], options: list[str]
) -> Iterator[Server]:
    """uWSGI from uwsgi.ini with one worker on a free loopback port; stopped on exit."""
    port, stats_port = _free_port(), _free_port()
    metrics_dir = scratch / f"{name}-metrics"
    environ = {key: value for key, value in os.environ.items() if not key.startswith("UWSGI_")}
    environ |= {
        "HOST": LOOPBACK,
        "PORT": str(port),
        "STATS_PORT": str(stats_port),
        "UWSGI_PROCESSES": "1",
        "RECYCLE_REQUESTS": "100000000",  # no recycle (a model reload) inside a measurement
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        **env,
    }
    log = scratch / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            # --chdir: the same working directory wherever the ini is; --max-requests: no
            # worker recycles (and reloads the model) in the middle of a measurement
            [
                uwsgi,
                *("--ini", str(ini), "--chdir", str(PROJECT), "--max-requests", "100000000"),
                *options,
            ],
            cwd=PROJECT,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Server(name, port, stats_port)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _request(body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        "POST /v1/predict HTTP/1.1",
        f"Host: {LOOPBACK}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Client:
    """One connection at a time: kept while the server allows, replaced when it closes."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._connection: socket.socket | None = None

    def __enter__(self) -> _Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._connection is not None:
            self._connection.close()

    def exchange(self, request: bytes) -> bytes:
        if self._connection is None:
            self._connection = socket.create_connection((LOOPBACK, self._server.port), timeout=10)
            self._connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body, close = _exchange(self._connection, request)
        if close:
            self._connection.close()
            self._connection = None
        return body


def _measure(server: Server, request: bytes, seconds: float) -> Measurement:
    """Requests per second from one client, and the worker's CPU time, after a warm-up."""
    worker = _worker_pid(server)
    with _Client(server) as client:
        warm_until = time.perf_counter() + WARM_UP
        while time.perf_counter() < warm_until:
            client.exchange(request)
        count = 0
        cpu_before = _cpu_seconds(worker)
        started = time.perf_counter()
        stop = started + seconds
        while time.perf_counter() < stop:
            client.exchange(request)
            count += 1
        elapsed = time.perf_counter() - started
        cpu_after = _cpu_seconds(worker)
    cpu_us = None
    if cpu_before is not None and cpu_after is not None:
        cpu_us = (cpu_after - cpu_before) / count * 1e6
    return Measurement(count / elapsed, cpu_us)


def _worker_pid(server: Server) -> int:
    """The one worker's process id, from the uWSGI stats server."""
    with urllib.request.urlopen(f"http://{LOOPBACK}:{server.stats_port}", timeout=10) as reply:
        [worker] = json.loads(reply.read())["workers"]
    return int(worker["pid"])


def _cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process so far, from /proc; None without /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # after the command name: state is field 3 of proc(5), utime 14 and stime 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _exchange(connection: socket.socket, request: bytes) -> tuple[bytes, bool]:
    """Send one request, read its response: the body, and whether the server closes.

    Anything but a 200 is an error: the benchmark measures successful predictions.
    """
    connection.sendall(request)
    data = b""
    while (end := data.find(b"\r\n\r\n")) < 0:
        data += _receive(connection)
    header = data[:end]
    if not header.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected response: {header.decode(errors='replace')}")
    length = _CONTENT_LENGTH.search(header)
    if length is None:
        raise RuntimeError("a response without Content-Length cannot be kept alive")
    total = end + 4 + int(length.group(1))
    while len(data) < total:
        data += _receive(connection)
    return data[end + 4 : total], _CLOSE.search(header) is not None


def _receive(connection: socket.socket) -> bytes:
    chunk = connection.recv(65536)
    if not chunk:
        raise RuntimeError("the server closed the connection")
    return chunk


def _fetch(server: Server, request: bytes) -> bytes:
    """One request on a connection of its own; the response body."""
    with _Client(server) as client:
        return client.exchange(request)


def _wait_until_answering(server: Server, request: bytes) -> bytes:
    """The body of the first 200 answer to ``request``; the server may still be loading."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            return _fetch(server, request)
        except (OSError, RuntimeError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {server.name} server is not answering: {exc}") from None
            time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per server per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument(
        "--http11",
        action="store_true",
        help="serve both from workers that keep connections themselves (http11-socket, no router)",
    )
    parser.add_argument("--uwsgi", help="the uwsgi command (default: beside this interpreter)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
