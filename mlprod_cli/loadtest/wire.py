"""The load's HTTP: one request at a time on a connection, on gevent's event loop.

Each Locust user holds one `Connection` to the `Target` at a time. A connection sends
the request bytes its user built once, and reads the whole answer, which
geventhttpclient's response parser (the one under Locust's `FastHttpUser`) takes in
as it arrives: status, end of the message, whether the connection may be kept.

The socket is the standard library's own, non-blocking, not gevent's cooperative
one, and it waits on gevent's hub through watchers kept for the connection's life.
One timer covers each exchange. gevent's socket instead arms a timer for every wait,
resolves the address on every connect and goes round the loop to learn that a connect
went through. Against one uWSGI worker, one connection per request, the load process
spent about 250 µs of CPU per request that way and spends about 200 µs this way (wrk:
90 µs, nearly all of it the kernel's work on connections). Locust
monkey-patches `socket`, `select` and `ssl`, so the originals are taken from
`gevent.monkey.get_original`. This module works the same in a process Locust has
not patched, which is how its tests run it.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import gevent
import gevent.socket
from gevent.hub import get_hub
from gevent.monkey import get_original
from geventhttpclient.response import HTTPConnectionClosed, HTTPResponse

_Socket: type[socket.socket] = get_original("socket", "socket")
_select = get_original("select", "select")
_SSLContext: type[ssl.SSLContext] = get_original("ssl", "SSLContext")

READ, WRITE = 1, 2
"""The events a watcher of gevent's loop waits for (libev's and libuv's alike)."""
BLOCK_SIZE = 64 * 1024
_IN_PROGRESS = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY)


class Answer(NamedTuple):
    status: int
    keep_alive: bool
    """The server lets the connection carry another request."""
    arrived: float
    """When the answer's last bytes were read (`time.perf_counter()`), before parsing them."""


class Connection:
    """One connection: sends a request and reads its whole answer; its user closes it.

    Every wait is on one of two watchers of gevent's loop, made when first needed and
    kept for the connection's life; one timer, also kept, bounds each step.
    """

    __slots__ = ("_sock", "_timer", "_watchers", "used", "waited")

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self._sock = sock
        self._timer = gevent.Timeout(timeout)
        self._watchers: dict[int, Any] = {}
        self.used = False
        self.waited = False
        """The last exchange waited on gevent's loop, so other greenlets had their turn."""

    def connect(self, address: Any, tls: ssl.SSLContext | None, host: str) -> None:
        """Connect to `address` (and shake hands, with `tls`), within the timeout."""
        self._timer.start()
        try:
            code = self._sock.connect_ex(address)
            if code in _IN_PROGRESS:
                # On loopback the handshake is done by the time connect() returns: ask
                # the kernel once rather than going round gevent's loop for the answer.
                if not _select([], [self._sock], [], 0)[1]:
                    self._wait(WRITE)
                code = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code))
            if tls is not None:
                # the same file descriptor, so the same watchers
                self._sock = tls.wrap_socket(
                    self._sock, server_hostname=host, do_handshake_on_connect=False
                )
                self._retry(self._sock.do_handshake, None, READ)
        finally:
            self._timer.cancel()

    def exchange(self, request: bytes, meanwhile: Callable[[], object] | None = None) -> Answer:
        """Send `request` whole, then read the answer whole, within the timeout.

        `meanwhile`, if given, runs once the request is sent, while the server works on
        it: the client's own chores, off the path from one request to the next.

        Raises `gevent.Timeout` past the timeout, `OSError` for the connection's errors,
        and `http.client.HTTPException` for an answer that is not HTTP or ends early.
        """
        self.used = True
        self.waited = False
        self._timer.start()
        try:
            view = memoryview(request)
            while view:
                view = view[self._retry(self._sock.send, view, WRITE) :]
            if meanwhile is not None:
                meanwhile()
            return self._receive()
        finally:
            self._timer.cancel()

    def idle(self) -> bool:
        """True unless there is something to read: the server's close, or unasked bytes."""
        if isinstance(self._sock, ssl.SSLSocket) and self._sock.pending():
            return False
        readable, _, _ = _select([self._sock], [], [], 0)
        return not readable

    def close(self) -> None:
        for watcher in self._watchers.values():
            watcher.close()
        self._timer.close()
        self._sock.close()

    def _receive(self) -> Answer:
        answer = HTTPResponse("POST")
        while not (answer.message_complete and answer.status_code >= 200):  # 1xx: read on
            data = self._retry(self._sock.recv, BLOCK_SIZE, READ)
            arrived = time.perf_counter()
            if data:
                answer.feed(data)
                continue
            answer.feed(b"")  # the close: it ends a body that runs to it, or a parse error
            if not answer.message_complete:
                raise HTTPConnectionClosed("connection closed before the answer")
        return Answer(answer.status_code, answer.should_keep_alive(), arrived)

    def _retry(self, call: Any, argument: Any, blocked_on: int) -> Any:
        """`call(argument)`, again after each wait until the socket is ready for it.

        A plain socket that would block waits for `blocked_on`; a TLS one may need to
        read in order to write, or the other way round, and says which.
        """
        while True:
            try:
                return call() if argument is None else call(argument)
            except ssl.SSLWantReadError:
                self._wait(READ)
            except ssl.SSLWantWriteError:
                self._wait(WRITE)
            except BlockingIOError:
                self._wait(blocked_on)

    def _wait(self, events: int) -> None:
        watcher = self._watchers.get(events)
        if watcher is None:
            watcher = self._watchers[events] = get_hub().loop.io(self._sock.fileno(), events)
        self.waited = True
        get_hub().wait(watcher)


class Target:
    """The server: its address (resolved on the first connection only) and TLS context."""

    def __init__(self, url: str, path: str, timeout: float) -> None:
        """`timeout`: the longest a connection may take to open, or an exchange on it."""
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.netloc = parts.netloc
        self.path = path
        self.timeout = timeout
        self.tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self.tls = _SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the certificate and name
            self.tls.load_default_certs()
        self._addresses: list[tuple[Any, ...]] = []

    def request(self, body: bytes, keep_alive: bool) -> bytes:
        """The whole POST of one body, built once: the same bytes every time it is sent."""
        head = [f"POST {self.path} HTTP/1.1", f"Host: {self.netloc}"]
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        if not keep_alive:
            head.append("Connection: close")
        return "\r\n".join([*head, "", ""]).encode("latin-1") + body

    def open(self) -> Connection:
        """A new connection, to the first of the host's addresses that accepts one."""
        if not self._addresses:
            self._addresses = gevent.socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)
        first_error: OSError | None = None
        for address in self._addresses:
            family, kind, proto, _, sockaddr = address
            sock = _Socket(family, kind, proto)
            sock.setblocking(False)
            connection = Connection(sock, self.timeout)
            try:
                connection.connect(sockaddr, self.tls, self.host)
            except OSError as error:
                connection.close()
                first_error = first_error or error
                continue
            except BaseException:
                connection.close()
                raise
            if address is not self._addresses[0]:  # try the one that answered first from now on
                self._addresses = [address, *(a for a in self._addresses if a is not address)]
            return connection
        raise first_error or OSError(f"no address for {self.host}")
