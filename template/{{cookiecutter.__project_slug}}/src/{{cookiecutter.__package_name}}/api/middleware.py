"""Per-request work done around every route: request ids, the request log, metrics, API keys."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

import falcon
import orjson

from ..logging import timestamp
from ..model.selection import ChoiceWatch, touch_trigger
from .errors import ApiError
from .metrics import Metrics

REQUEST_ID_HEADER = "X-Request-ID"
API_KEY_HEADER = "X-API-Key"
# A client's request id is kept when it is 1 to 128 visible ASCII characters.
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")
# Routes whose requests are counted but not logged: probes and scrapes come every few seconds.
_UNLOGGED_ROUTES = frozenset({"/health/live", "/health/ready", "/metrics"})

logger = logging.getLogger(__name__)


class RequestLog:
    """Writes one JSON line per request, in one write, straight to a binary stream.

    The line has the same leading fields as every other log line (time, level, logger,
    message). It bypasses the logging machinery on purpose: building a LogRecord and
    passing it through handlers and formatters costs several times as much as this,
    on every request. The level set for this module's logger still applies.
    """

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer
        self._head = {"level": "INFO", "logger": logger.name, "message": "request"}

    def write(self, fields: dict[str, Any]) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return
        line = orjson.dumps(
            {"time": timestamp(time.time()), **self._head, **fields},
            default=str,  # a value JSON has no type for is logged as text, never an error
            option=orjson.OPT_APPEND_NEWLINE,
        )
        try:
            self._stream.write(line)
            self._stream.flush()
        except (OSError, ValueError):  # stdout closed or gone: as logging does, carry on serving
            pass


class RequestLogger:
    """Times each request, tags it with a request id, counts it and logs it once answered.

    Resources add their own fields (model, instances, predictions) to
    ``req.context.log_fields``; the error serializer adds the error code.
    """

    def __init__(self, log: RequestLog, metrics: Metrics) -> None:
        self._log = log
        self._metrics = metrics

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()
        request_id = req.get_header(REQUEST_ID_HEADER)
        if request_id is None or _REQUEST_ID.fullmatch(request_id) is None:
            request_id = os.urandom(16).hex()
        req.context.request_id = request_id
        req.context.log_fields = {}

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        seconds = time.perf_counter() - req.context.started
        resp.set_header(REQUEST_ID_HEADER, req.context.request_id)
        status = resp.status_code
        self._metrics.request_answered(req.method, req.uri_template, status, seconds)
        if req.uri_template in _UNLOGGED_ROUTES:
            return
        self._log.write(
            {
                "request_id": req.context.request_id,
                "method": req.method,
                "path": req.path,
                "status": status,
                "latency_ms": round(seconds * 1000, 3),
                **req.context.log_fields,
            }
        )


class Recycler:
    """Asks uWSGI to replace the workers, one at a time, while this worker should go.

    A worker should go once it has served ``limit`` requests (``RECYCLE_REQUESTS``),
    or once ``SERVING`` names another version than the one it loaded (see
    `selection.ChoiceWatch`). It asks by touching the ``touch-chain-reload`` file
    ``trigger``: uWSGI's own ``max-requests`` lets each worker exit on its own, so workers
    that share the load reach it together and all reload at once, whereas a chain reload
    replaces them one by one, the next only once the one before accepts.

    uWSGI ignores a touch while a chain reload is running, so one request is not enough:
    the worker asks again every ``interval`` seconds until it is replaced. A switch
    (``serve-version``) that meets a running chain reload (a recycle's, or another
    switch's) therefore still reaches every worker. Checking costs a clock read per
    request and a ``stat`` of ``SERVING`` per interval. If the file cannot be touched the
    worker says so in the log, and uWSGI's ``max-requests`` backstop recycles it later.
    """

    def __init__(
        self,
        limit: int,
        trigger: Path,
        choice: ChoiceWatch | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._trigger = trigger
        self._choice = choice
        self._interval = interval
        self._clock = clock
        self._served = 0
        self._next_check = 0.0
        self._asked_because: str | None = None

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        self._served += 1
        now = self._clock()
        if now < self._next_check and self._served != self._limit:
            return
        self._next_check = now + self._interval
        reason = self._reason()
        if reason is None:
            return
        try:
            touch_trigger(self._trigger)
        except OSError as exc:
            if reason != self._asked_because:
                logger.warning(
                    "cannot ask for the workers to be replaced: %s; uWSGI's max-requests "
                    "will recycle this worker",
                    exc,
                )
                self._asked_because = reason
            return
        if reason != self._asked_because:
            logger.info("replacing the workers one at a time", extra={"reason": reason})
            self._asked_because = reason

    def _reason(self) -> str | None:
        superseded = self._choice.superseded() if self._choice is not None else None
        if superseded is not None:
            return f"{superseded} is now the version to serve"
        if self._served >= self._limit:
            return f"this worker served {self._limit} requests (RECYCLE_REQUESTS)"
        return None


class ApiKeyAuth:
    """Requires an API key on the protected routes: ``Authorization: Bearer`` or ``X-API-Key``.

    Whether a request needs a key is decided from the route Falcon matched (its URI
    template), never from the path as sent: the router forgives spellings such as
    ``//v1/predict`` that a prefix test on the raw path would not recognise, so any
    spelling that reaches a protected resource is checked.

    Keys are kept as SHA-256 digests and a presented key is compared with every one of
    them in constant time, so neither a key's content nor which key matched shows in
    the time taken to answer.
    """

    def __init__(self, keys: Iterable[str], protected_routes: Iterable[str]) -> None:
        self._digests = [_digest(key) for key in keys]
        self._protected = frozenset(protected_routes)

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        # After routing, so metrics count refused requests under their route; a path that
        # matches no route is a 404 with or without a key.
        if resource is None or req.uri_template not in self._protected:
            return
        digest = _digest(_presented_key(req))
        # Every key is compared, with no early exit once one matches.
        matches = [hmac.compare_digest(digest, known) for known in self._digests]
        if True not in matches:
            raise ApiError(401, "unauthorized", "invalid API key", _CHALLENGE)


_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _presented_key(req: falcon.Request) -> str:
    authorization = req.get_header("Authorization")
    if authorization is not None:
        scheme, _, key = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(
                401, "unauthorized", "the Authorization header must be `Bearer <key>`", _CHALLENGE
            )
        return key.strip()
    header = req.get_header(API_KEY_HEADER)
    if not header:
        raise ApiError(
            401,
            "unauthorized",
            f"missing API key: send `Authorization: Bearer <key>` or `{API_KEY_HEADER}: <key>`",
            _CHALLENGE,
        )
    return header


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
