"""Ground truth: ``POST /v1/feedback`` joins true labels (or values) to the predictions made.

Each prediction is remembered, keyed by its request id and its position in the request,
in a SQLite file every worker shares (``FEEDBACK_DB``; by default ``feedback.sqlite3`` in
the server's metrics directory, an in-memory database without one). It is bounded twice:
rows older than ``FEEDBACK_TTL`` seconds are forgotten, and so are the oldest past
``FEEDBACK_MAX_ROWS``. A prediction forgotten, never made, or already given its truth is
refused with a 4xx that says which; a batch is taken whole or not at all.

SQLite in WAL mode with ``synchronous=OFF``: a write is a page in the OS cache, no fsync
(a machine crash may lose the latest rows of join state, never corrupt the file).
"""

from __future__ import annotations

import logging
import math
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import falcon
import numpy as np
import orjson

from ..model.manifest import Manifest
from .errors import ApiError
from .monitor import Monitor
from .schemas import MAGNITUDE_LIMIT

logger = logging.getLogger(__name__)

FILE_NAME = "feedback.sqlite3"
PRUNE_EVERY = 1000
"""Predictions a worker records between two sweeps of expired rows."""
BUSY_TIMEOUT_MS = 2000
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    request_id TEXT NOT NULL,
    item INTEGER NOT NULL,
    version TEXT NOT NULL,
    prediction TEXT NOT NULL,
    created REAL NOT NULL,
    answered INTEGER NOT NULL DEFAULT 0,
    UNIQUE (request_id, item)
)
"""


_INSERT = (
    "INSERT OR REPLACE INTO predictions (request_id, item, version, prediction, created) "
    "VALUES (?, ?, ?, ?, ?)"
)


def _connect(target: str) -> sqlite3.Connection:
    return sqlite3.connect(
        target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True)
class Recorded:
    version: str
    prediction: Any
    answered: bool


class FeedbackStore:
    """The predictions made, by (request id, index), bounded in age and number."""

    def __init__(self, path: Path | None, ttl: float, max_rows: int) -> None:
        self._ttl = ttl
        self._max_rows = max_rows
        target = ":memory:" if path is None else str(path)
        self._since_prune = 0
        self._failures = 0
        self._target = target
        try:
            # uWSGI's workers run one thread each (gevent switches only on socket waits)
            self._db = _connect(target)
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if path is not None:
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = OFF")
            self._db.execute(_SCHEMA)
            self.prune()
        except sqlite3.Error as exc:
            # A worker never fails to start for its join state: it remembers nothing instead.
            logger.warning(
                "cannot open the feedback join state: %s; this worker remembers no predictions",
                exc,
                extra={"feedback_db": target},
            )
            self._max_rows = 0
            self._db = _connect(":memory:")
            self._db.execute(_SCHEMA)

    @property
    def enabled(self) -> bool:
        """False with ``FEEDBACK_MAX_ROWS=0``: nothing is remembered, no request pays for it."""
        return self._max_rows > 0

    def record(self, request_id: str, version: str, predictions: Sequence[Any]) -> None:
        """Remember one request's predictions (a request id sent again replaces them)."""
        if self._max_rows <= 0:
            return
        now = time.time()
        try:
            if len(predictions) == 1:  # the common case, a statement cheaper
                self._db.execute(_INSERT, (request_id, 0, version, _dumps(predictions[0]), now))
            else:
                with self._db:  # one transaction, rolled back on failure
                    self._db.execute("BEGIN")
                    self._db.executemany(
                        _INSERT,
                        [
                            (request_id, item, version, _dumps(value), now)
                            for item, value in enumerate(predictions)
                        ],
                    )
            self._since_prune += len(predictions)
            if self._since_prune >= PRUNE_EVERY:
                self.prune()
        except sqlite3.Error as exc:
            # A prediction never fails for its join state: its feedback will be a 404.
            self._failures += 1
            if self._failures == 1 or self._failures % 1000 == 0:
                logger.warning(
                    "cannot remember predictions for feedback: %s",
                    exc,
                    extra={"feedback_db": self._target, "failures": self._failures},
                )

    def prune(self) -> None:
        """Forget predictions older than the TTL, then the oldest past the row limit."""
        self._since_prune = 0
        self._db.execute("DELETE FROM predictions WHERE created < ?", (time.time() - self._ttl,))
        self._db.execute(
            "DELETE FROM predictions WHERE rowid <= (SELECT max(rowid) FROM predictions) - ?",
            (self._max_rows,),
        )

    def answer(self, keys: Sequence[tuple[str, int]]) -> list[Recorded | None]:
        """Mark ``keys`` answered, all or none: what each was (None: unknown or expired).

        Nothing is marked unless every key is known and none was answered before.
        """
        oldest = time.time() - self._ttl
        self._db.execute("BEGIN IMMEDIATE")
        try:
            found: list[Recorded | None] = []
            for request_id, item in keys:
                row = self._db.execute(
                    "SELECT version, prediction, answered FROM predictions "
                    "WHERE request_id = ? AND item = ? AND created >= ?",
                    (request_id, item, oldest),
                ).fetchone()
                found.append(
                    None if row is None else Recorded(row[0], orjson.loads(row[1]), bool(row[2]))
                )
            if all(r is not None and not r.answered for r in found) and len(set(keys)) == len(keys):
                self._db.executemany(
                    "UPDATE predictions SET answered = 1 WHERE request_id = ? AND item = ?", keys
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return found


@dataclass(frozen=True)
class Feedback:
    request_id: str
    index: int
    truth: Any


class FeedbackResource:
    """``POST /v1/feedback``: ``{"request_id", "index"?, "label"|"value"}``, or many of them
    as ``{"feedback": [...]}``; answers ``{"accepted": n}``."""

    def __init__(
        self,
        manifest: Manifest,
        store: FeedbackStore,
        monitor: Monitor,
        max_items: int,
        ttl: float,
        max_body_bytes: int,
    ) -> None:
        self._max_body_bytes = max_body_bytes
        self._store = store
        self._monitor = monitor
        self._max_items = max_items
        self._ttl = ttl
        self._classifier = manifest.output.task == "classification"
        self._classes = list(manifest.output.classes)
        self._field = "label" if self._classifier else "value"

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        media_type = (req.content_type or "").partition(";")[0].strip().lower()
        if media_type != falcon.MEDIA_JSON:
            raise ApiError(
                415,
                "unsupported_media_type",
                f"Content-Type must be {falcon.MEDIA_JSON}, got {req.content_type or 'none'}",
            )
        length = req.content_length or 0
        if length > self._max_body_bytes:
            raise ApiError(
                413,
                "payload_too_large",
                f"the body is {length} bytes; the limit is {self._max_body_bytes} bytes "
                "(MAX_BODY_BYTES)",
            )
        try:
            body = orjson.loads(req.bounded_stream.read())
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, "malformed_json", f"the body is not JSON: {exc}") from None
        items = self._parse(body)
        try:
            found = self._store.answer([(item.request_id, item.index) for item in items])
        except sqlite3.Error as exc:
            logger.error("cannot read the feedback join state: %s", exc)
            raise ApiError(
                503, "error", "the predictions' join state cannot be read now; try again later"
            ) from None
        seen: set[tuple[str, int]] = set()
        for position, (item, recorded) in enumerate(zip(items, found, strict=True)):
            where = f"feedback[{position}]" if isinstance(body, dict) and "feedback" in body else ""
            what = f"request id {item.request_id!r}, index {item.index}"
            if recorded is None:
                forgotten = (
                    f"or older than FEEDBACK_TTL ({self._ttl:g} s) and forgotten"
                    if self._store.enabled
                    else "none are remembered (FEEDBACK_MAX_ROWS=0)"
                )
                raise ApiError(
                    404,
                    "unknown_prediction",
                    f"{where + ': ' if where else ''}no prediction with {what}: never made, "
                    + forgotten,
                )
            if recorded.answered or (item.request_id, item.index) in seen:
                raise ApiError(
                    409,
                    "duplicate_feedback",
                    f"{where + ': ' if where else ''}the prediction with {what} already has "
                    "its ground truth; each is taken once",
                )
            seen.add((item.request_id, item.index))
        for item, recorded in zip(items, found, strict=True):
            assert recorded is not None
            self._monitor.feedback_received(recorded.version, item.truth, recorded.prediction)
        req.context.log_fields["feedback"] = len(items)
        resp.content_type = falcon.MEDIA_JSON
        resp.data = orjson.dumps({"accepted": len(items)})

    def _parse(self, body: Any) -> list[Feedback]:
        if isinstance(body, dict) and "feedback" in body:
            if set(body) != {"feedback"}:
                raise _invalid("body", 'give either one item or {"feedback": [...]}, not both')
            listed = body["feedback"]
            if not isinstance(listed, list) or not listed:
                raise _invalid("feedback", "must be a non-empty list of items")
            if len(listed) > self._max_items:
                raise _invalid(
                    "feedback", f"{len(listed)} items; at most {self._max_items} (MAX_INSTANCES)"
                )
            return [self._item(item, f"feedback[{i}]") for i, item in enumerate(listed)]
        return [self._item(body, "")]

    def _item(self, item: Any, where: str) -> Feedback:
        def at(name: str) -> str:
            return f"{where}.{name}" if where else name

        if not isinstance(item, dict):
            raise _invalid(where or "body", "must be an object with request_id and " + self._field)
        wrong = "value" if self._classifier else "label"
        if wrong in item:
            kind = "a classifier: give `label`" if self._classifier else "a regressor: give `value`"
            raise _invalid(at(wrong), f"this model is {kind}")
        unknown = sorted(set(item) - {"request_id", "index", self._field})
        if unknown:
            raise _invalid(at(unknown[0]), "unknown field")
        request_id = item.get("request_id")
        if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
            raise _invalid(
                at("request_id"),
                "required: the X-Request-ID of the prediction (1 to 128 visible ASCII characters)",
            )
        index = item.get("index", 0)
        if isinstance(index, float) and index.is_integer():  # 3.0, as pandas writes integers
            index = int(index)
        if (
            not isinstance(index, int)
            or isinstance(index, bool)
            or not 0 <= index < self._max_items
        ):
            raise _invalid(
                at("index"),
                "must be the instance's position in its request, "
                f"from 0 to {self._max_items - 1} (MAX_INSTANCES)",
            )
        if self._field not in item:
            raise _invalid(at(self._field), "required: the ground truth")
        truth = item[self._field]
        if self._classifier:
            if isinstance(truth, bool) or truth not in self._classes:
                listed = ", ".join(repr(label) for label in self._classes)
                raise _invalid(at("label"), f"must be one of the model's classes ({listed})")
        elif (
            isinstance(truth, bool)
            or not isinstance(truth, int | float)
            or not math.isfinite(truth)
            or abs(truth) > MAGNITUDE_LIMIT
        ):
            raise _invalid(at("value"), f"must be a finite number, at most {MAGNITUDE_LIMIT:.0e}")
        return Feedback(request_id, index, truth)


def feedback_operation(manifest: Manifest, responses: Any, max_instances: int) -> dict[str, Any]:
    """``POST /v1/feedback`` in the OpenAPI document (``responses``: its response builder;
    ``max_instances``: MAX_INSTANCES, one more than the largest index a prediction has)."""
    classifier = manifest.output.task == "classification"
    field = "label" if classifier else "value"
    truth: dict[str, Any] = (
        {"enum": list(manifest.output.classes), "description": "The true class"}
        if classifier
        else {
            "type": "number",
            "minimum": -MAGNITUDE_LIMIT,
            "maximum": MAGNITUDE_LIMIT,
            "description": "The true value",
        }
    )
    item = {
        "type": "object",
        "properties": {
            "request_id": {
                "type": "string",
                "pattern": "^[\\x21-\\x7e]{1,128}$",
                "description": "The X-Request-ID of the prediction",
            },
            "index": {
                "type": "integer",
                "minimum": 0,
                "maximum": max_instances - 1,
                "default": 0,
                "description": "The instance's position in that request",
            },
            field: truth,
        },
        "required": ["request_id", field],
        "additionalProperties": False,
    }
    batch = {
        "type": "object",
        "properties": {"feedback": {"type": "array", "items": item, "minItems": 1}},
        "required": ["feedback"],
        "additionalProperties": False,
    }
    accepted = {
        "type": "object",
        "properties": {"accepted": {"type": "integer", "minimum": 1}},
        "required": ["accepted"],
    }
    return {
        "operationId": "feedback",
        "summary": "The ground truth of predictions made, for live quality in /metrics",
        "description": (
            'One item, or many as `{"feedback": [...]}`, taken all or none. Each names a '
            "prediction by its request id and index; it is remembered for FEEDBACK_TTL "
            "seconds and takes one ground truth."
        ),
        "tags": ["model"],
        "parameters": [{"$ref": "#/components/parameters/RequestId"}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": [item, batch]}}},
        },
        "responses": {
            "200": {
                "description": "Taken",
                "headers": responses.headers,
                "content": {"application/json": {"schema": accepted}},
            },
            "400": responses.error("The body is not JSON (`malformed_json`)"),
            "404": responses.error(
                "No such prediction: never made, or forgotten (`unknown_prediction`)"
            ),
            "409": responses.error(
                "A prediction has its ground truth already (`duplicate_feedback`)"
            ),
            "413": responses.error("The body is larger than the limit (`payload_too_large`)"),
            "415": responses.error("Content-Type is not application/json"),
            "422": responses.error("A field is missing, unknown or wrong (`invalid_request`)"),
            "500": responses.error("An unexpected failure, logged with the request id"),
        },
    }


def _invalid(field: str, problem: str) -> ApiError:
    return ApiError(422, "invalid_request", f"{field}: {problem}")


LOGGED_INPUTS = 10
"""Instances a request logs (``inputs``, in schema order), for the ``drift`` command: all
of them up to this many, else this many evenly spaced, with ``inputs_sampled`` true (the
command then weighs each logged row by ``instances / len(inputs)``)."""


class Monitoring:
    """What the predict route hands over after each prediction: drift counts, the join state
    for feedback, and the instances for the log."""

    def __init__(self, monitor: Monitor, store: FeedbackStore, version: str) -> None:
        self._monitor = monitor
        self._store = store
        self._version = version

    def predicted(
        self,
        request_id: str,
        features: Any,
        predictions: Sequence[Any],
        log_fields: dict[str, Any],
    ) -> None:
        self._monitor.observe(features, predictions)
        self._store.record(request_id, self._version, predictions)
        count = len(predictions)
        if count <= LOGGED_INPUTS:
            log_fields["inputs"] = features.tolist()
        else:
            rows = np.linspace(0, count - 1, LOGGED_INPUTS).round().astype(np.intp)
            log_fields["inputs"] = features[rows].tolist()
            log_fields["inputs_sampled"] = True
