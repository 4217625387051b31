"""The load's HTTP client against scripted servers on loopback: what it sends, what it reads.

`wire` runs on gevent's loop but needs no monkey-patching, so these tests drive it in
this process: each server is a thread with blocking sockets, answering each connection
with exactly the bytes a test scripts, including the awkward ones real servers send.
gevent is imported by the tests, not at collection, so that the CLI tests can still
see that a failing `mlprod loadtest` never loads it.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.client import HTTPException
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mlprod_cli.loadtest import wire

BODY = b'{"instances": [{"size": 50.0}]}'
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

Handler = Callable[[socket.socket], None]


def predict_target(url: str, timeout: float = 5.0) -> wire.Target:
    """A client of `url`'s /v1/predict; `wire`, and gevent with it, is imported on first use."""
    from mlprod_cli.loadtest.wire import Target

    return Target(url, "/v1/predict", timeout)


@contextmanager
def server(handler: Handler, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Each connection to a free loopback port is given to `handler` in its own thread."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    threads: list[threading.Thread] = []

    def handle(conn: socket.socket) -> None:
        if tls is not None:
            try:
                conn = tls.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                conn.close()
                return  # the client refused the certificate
        with conn:
            handler(conn)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # the listener was shut down
            thread = threading.Thread(target=handle, args=(conn,), daemon=True)
            threads.append(thread)
            thread.start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        listener.close()
        acceptor.join(timeout=5)
        for thread in threads:
            thread.join(timeout=5)


def read_request(conn: socket.socket) -> bytes:
    """The whole request: head, then as many body bytes as Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += conn.recv(4096)
    return head + b"\r\n\r\n" + body


def answering(*parts: bytes, pause: float = 0.0, received: list[bytes] | None = None) -> Handler:
    """Read one request, then write `parts` (a pause before each but the first) and close."""

    def handler(conn: socket.socket) -> None:
        request = read_request(conn)
        if received is not None:
            received.append(request)
        for number, part in enumerate(parts):
            if number and pause:
                time.sleep(pause)
            conn.sendall(part)

    return handler


def exchange(url: str, keep_alive: bool = True, timeout: float = 5.0) -> wire.Answer:
    target = predict_target(url, timeout)
    connection = target.open()
    try:
        return connection.exchange(target.request(BODY, keep_alive))
    finally:
        connection.close()


def test_the_request_is_the_one_built_and_the_answer_is_read_whole() -> None:
    received: list[bytes] = []
    with server(answering(OK, received=received)) as url:
        target = predict_target(url)
        request = target.request(BODY, keep_alive=True)
        connection = target.open()
        before = time.perf_counter()
        answer = connection.exchange(request)
        after = time.perf_counter()
        connection.close()
    assert received == [request]
    head, _, body = request.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"POST /v1/predict HTTP/1.1",
        f"Host: {url.removeprefix('http://')}".encode(),
        b"Content-Type: application/json",
        f"Content-Length: {len(BODY)}".encode(),
    ]
    assert body == BODY
    assert (answer.status, answer.keep_alive) == (200, True)
    assert before < answer.arrived <= after


def test_without_keep_alive_the_request_asks_the_server_to_close() -> None:
    target = predict_target("http://127.0.0.1:8000")
    assert b"\r\nConnection: close\r\n\r\n" in target.request(BODY, keep_alive=False)


def test_an_answer_in_pieces_is_read_until_its_last_byte() -> None:
    pieces = [OK[i : i + 7] for i in range(0, len(OK), 7)]
    with server(answering(*pieces, pause=0.01)) as url:
        answer = exchange(url)
    assert answer.status == 200


def test_a_body_that_runs_to_the_close_ends_with_it() -> None:
    head = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
    with server(answering(head, b'{"predictions":', b" [1]}", pause=0.01)) as url:
        answer = exchange(url)
    assert (answer.status, answer.keep_alive) == (200, False)


def test_an_interim_answer_is_read_past_to_the_final_one() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    final = b"HTTP/1.1 422 Unprocessable Content\r\nContent-Length: 2\r\n"
    final += b"Connection: close\r\n\r\n{}"
    with server(answering(interim, final, pause=0.01)) as url:
        answer = exchange(url)
    assert (answer.status, answer.keep_alive) == (422, False)


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ((), "connection closed before the answer"),
        ((b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",), "Incomplete response."),
        ((b"SSH-2.0-OpenSSH_9.2\r\n\r\n",), "Expected HTTP/"),
    ],
    ids=["closed-unanswered", "body-cut-short", "not-http"],
)
def test_a_broken_answer_is_an_http_error_naming_what_broke(
    parts: tuple[bytes, ...], message: str
) -> None:
    with server(answering(*parts)) as url, pytest.raises(HTTPException, match=message):
        exchange(url)


def test_an_answer_that_never_comes_times_out_at_the_limit() -> None:
    from gevent import Timeout

    release = threading.Event()

    def silent(conn: socket.socket) -> None:
        read_request(conn)
        release.wait(10)

    with server(silent) as url:
        started = time.monotonic()
        try:
            with pytest.raises(Timeout):
                exchange(url, timeout=0.3)
        finally:
            release.set()
        waited = time.monotonic() - started
    assert 0.3 <= waited < 3


def test_a_refused_connection_is_the_os_error_that_names_it() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]  # bound, never listening: connections are refused
        target = predict_target(f"http://127.0.0.1:{port}")
        with pytest.raises(ConnectionRefusedError):
            target.open()


def test_meanwhile_runs_once_the_request_has_reached_the_server() -> None:
    arrived = threading.Event()
    calls: list[bool] = []

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        arrived.set()
        conn.sendall(OK)

    with server(handler) as url:
        target = predict_target(url)
        connection = target.open()
        # blocking this thread: the server can have read the request only if it was sent
        answer = connection.exchange(
            target.request(BODY, True), meanwhile=lambda: calls.append(arrived.wait(5))
        )
        connection.close()
    assert calls == [True]
    assert answer.status == 200


def test_a_kept_connection_is_idle_until_the_server_closes_it() -> None:
    close = threading.Event()

    def keeping(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(OK)
        close.wait(10)

    with server(keeping) as url:
        target = predict_target(url)
        connection = target.open()
        answer = connection.exchange(target.request(BODY, True))
        assert answer.keep_alive
        assert connection.idle()
        close.set()
        deadline = time.monotonic() + 5
        while connection.idle() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not connection.idle()
        connection.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made by the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def test_https_is_spoken_with_a_server_whose_certificate_is_trusted(
    certificate: tuple[Path, Path],
) -> None:
    received: list[bytes] = []
    with server(answering(OK, received=received), tls=server_tls(certificate)) as url:
        target = predict_target(url)
        assert target.tls is not None
        target.tls.load_verify_locations(certificate[0])
        connection = target.open()
        first = connection.exchange(target.request(BODY, True))
        connection.close()
    assert first.status == 200
    assert received[0].endswith(BODY)


def test_https_refuses_a_certificate_nobody_vouches_for(certificate: tuple[Path, Path]) -> None:
    with server(answering(OK), tls=server_tls(certificate)) as url:
        target = predict_target(url)
        with pytest.raises(ssl.SSLCertVerificationError):
            target.open()
