"""Per-request work done around every route: request ids, the request log, metrics, API keys."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import falcon
import orjson

from ..logging import timestamp
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
    """After ``limit`` requests, asks uWSGI to replace the workers, one at a time.

    uWSGI's own ``max-requests`` lets each worker exit on its own, so workers that share
    the load reach it together and all reload at once (seconds each, under lazy-apps).
    Touching the ``touch-chain-reload`` file instead replaces them one by one, the next
    only once the one before accepts. A worker asks once; if the file cannot be touched
    it says so in the log and uWSGI's ``max-requests`` backstop recycles it later.
    """

    def __init__(self, limit: int, trigger: Path) -> None:
        self._limit = limit
        self._trigger = trigger
        self._served = 0

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        self._served += 1
        if self._served != self._limit:
            return
        try:
            self._trigger.touch()
        except OSError as exc:
            logger.warning(
                "cannot ask for a recycle: %s; uWSGI's max-requests will recycle this worker",
                exc,
            )
            return
        logger.info("recycling the workers one at a time", extra={"requests": self._limit})


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
