"""A tiny stand-in for a model server, for load tests that must take seconds, not minutes.

One thread serves one request at a time (like a single uWSGI worker), on a free
loopback port: `POST /v1/predict` answers `{"predictions": [...]}`, `GET /v1/model` a
manifest with an input schema. It can stall once, for a while, at a given request (so
every request sent meanwhile queues behind it), and fail every n-th request with a 500.
Test-only: the generated project's production code has no such switch.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

MANIFEST = {
    "name": "stub",
    "version": "0.1.0",
    "data": {"file": "stub.csv"},
    "input_schema": {
        "features": [
            {"name": "size", "type": "number", "allowed": None},
            {"name": "rooms", "type": "integer", "allowed": None},
            {"name": "city", "type": "string", "allowed": ["Lyon", "Paris"]},
        ],
        "example": {"size": 50.0, "rooms": 2, "city": "Lyon"},
    },
}


@dataclass
class Behaviour:
    """What the stub does; `log` records each predict body it received."""

    stall_at: int | None = None
    """Sleep `stall_seconds` before answering this predict request (1-based)."""
    stall_seconds: float = 0.5
    fail_every: int | None = None
    """Answer every n-th predict request with HTTP 500."""
    keep_alive: bool = False
    """Speak HTTP/1.1 and keep each connection unless the client asks to close it."""
    stop_after: int | None = None
    """Stop listening once this many predict requests are answered: the server goes away."""
    predicts: int = 0
    stalled_at: float | None = None
    bodies: list[Any] = field(default_factory=list)
    connections: int = 0
    predict_connections: set[int] = field(default_factory=set)
    """The numbers (1-based, in order of acceptance) of the connections that carried a predict."""


@dataclass(frozen=True)
class Stub:
    url: str
    behaviour: Behaviour


def _handler(behaviour: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, then close
        protocol_version = "HTTP/1.1" if behaviour.keep_alive else "HTTP/1.0"

        def setup(self) -> None:
            behaviour.connections += 1
            self.number = behaviour.connections
            super().setup()

        def do_GET(self) -> None:
            if self.path == "/v1/model":
                self._answer(200, MANIFEST)
            else:
                self._answer(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            behaviour.predicts += 1
            behaviour.predict_connections.add(self.number)
            if len(behaviour.bodies) < 1000:
                behaviour.bodies.append(body)
            if behaviour.stall_at is not None and behaviour.predicts == behaviour.stall_at:
                behaviour.stalled_at = time.monotonic()
                time.sleep(behaviour.stall_seconds)
            if behaviour.fail_every and behaviour.predicts % behaviour.fail_every == 0:
                self._answer(500, {"error": {"message": "stub failure"}})
            else:
                self._answer(200, {"predictions": ["yes"]})
            if behaviour.predicts == behaviour.stop_after:
                # shutdown() waits for this very loop to end: from another thread
                threading.Thread(target=_go_away, args=(self.server,)).start()

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a load test makes thousands of requests."""

    return Handler


def _go_away(server: HTTPServer) -> None:
    server.shutdown()
    server.server_close()  # from now on, connections are refused


class _Server(HTTPServer):
    request_queue_size = 512  # connections queue during a stall, as under uWSGI's `listen`


@contextmanager
def stub_server(behaviour: Behaviour | None = None) -> Iterator[Stub]:
    """Serve on 127.0.0.1, a free port, from a thread; shut down on exit."""
    behaviour = behaviour or Behaviour()
    server = _Server(("127.0.0.1", 0), _handler(behaviour))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Stub(url=f"http://127.0.0.1:{server.server_port}", behaviour=behaviour)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
