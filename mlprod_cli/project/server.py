"""Run a generated project's uWSGI server on a free loopback port, and talk to it.

Used by `make demo`, the gates tier of the tests, and the load-test command: the
server is started from the project's own environment and `uwsgi.ini`, waited for
on `/health/ready`, and stopped by its process id.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlprod_cli.errors import UserError

LOOPBACK = "127.0.0.1"


class ServerError(UserError):
    """The project's server did not start, or did not become ready."""


@dataclass(frozen=True)
class Response:
    """An HTTP response with a JSON body."""

    status: int
    headers: Mapping[str, str]
    body: Any


def free_port() -> int:
    """A TCP port on the loopback interface that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def request(method: str, url: str, body: Any = None, timeout: float = 10.0) -> Response:
    """Send one request (a JSON body when `body` is given); any status is returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    call = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(call, timeout=timeout) as reply:
            return Response(reply.status, dict(reply.headers), _json(reply.read()))
    except urllib.error.HTTPError as reply:
        return Response(reply.code, dict(reply.headers), _json(reply.read()))


@contextmanager
def running(
    project_dir: Path,
    uwsgi: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Iterator[str]:
    """Serve the project under uWSGI on a free loopback port; yield its base URL.

    The server's output goes to a temporary log whose tail is quoted if it fails to
    become ready within `timeout` seconds. It is stopped, by process id, on exit, and
    its metrics folder removed.
    """
    port = free_port()
    with (
        tempfile.TemporaryFile(mode="w+b") as log,
        tempfile.TemporaryDirectory(prefix="mlprod-metrics-") as metrics,
    ):
        # STATS_PORT too: a project made from an older template puts its stats on
        # PORT + 1 unless told, and that port may be taken (newer ones use a unix socket). The
        # Prometheus files go to a folder that goes with the server.
        environ = {
            **os.environ,
            "HOST": LOOPBACK,
            "PORT": str(port),
            "STATS_PORT": str(free_port()),
            "PROMETHEUS_MULTIPROC_DIR": metrics,
            **(env or {}),
        }
        process = subprocess.Popen(
            [str(uwsgi), "--ini", str(project_dir / "uwsgi.ini")],
            cwd=project_dir,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://{LOOPBACK}:{port}"
        try:
            _wait_ready(url, process, log, timeout)
            yield url
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM (uWSGI's `die-on-term` shuts down gracefully), then SIGKILL after `grace`."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(
                f"uWSGI exited with code {process.returncode} before it was ready: {_tail(log)}"
            )
        try:
            if request("GET", f"{url}/health/ready", timeout=2.0).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise ServerError(f"uWSGI was not ready within {timeout:.0f} s: {_tail(log)}")


def _tail(log: Any, lines: int = 5) -> str:
    log.seek(0)
    text = log.read().decode(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) or "(no output)"


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")
