"""Adaptive micro-batching: concurrent requests in one worker share one ``predict`` call.

Off unless ``BATCH_MAX_SIZE`` is set. Each uWSGI worker runs its requests as greenlets on
gevent's loop (uwsgi.ini), one at a time: while the model computes, nothing else in the
worker runs, and the requests that arrive meanwhile wait on the workers' socket. When the
model is free again the loop takes them in, and their rows go to the model together.

There is no thread and no background greenlet. The first request to find the model free
leads: it yields to the loop, so the requests already waiting can be read and join,
while that brings more (at most ``BATCH_MAX_WAIT_MS``, at most ``BATCH_MAX_SIZE`` rows),
then predicts every row gathered in one call, hands each request its own rows' answers,
and passes the lead to the oldest request still waiting. A request alone never waits:
nothing joins in one turn of the loop, so it predicts at once (the "adaptive" part).

A request still waiting when its budget (``BATCH_TIMEOUT_MS``, from when it joined) runs
out is answered 503 ``overloaded`` rather than held; its rows are not predicted.
"""

from __future__ import annotations

import contextlib
import select
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
import numpy as np
from gevent.event import Event
from prometheus_client import CollectorRegistry, Counter, Histogram

from .errors import ApiError

Answers = tuple[list[Any], list[dict[str, float]] | None]
"""Predictions, and probabilities when asked for, one per row."""

ComputeRows = Callable[[np.ndarray, bool], Answers]
"""The model's answers for rows, with probabilities when the flag says so."""

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

QUIET_TURNS = 1
"""Turns of the loop in a row that bring no request before a batch stops gathering."""

WAIT_SLICE = 0.0002
"""Seconds a gathering batch sleeps while it expects more requests (their bytes in transit)."""


class Overloaded(ApiError):
    """A request that waited its whole budget for the model (503, ``overloaded``)."""

    def __init__(self, budget_ms: int) -> None:
        super().__init__(
            503,
            "overloaded",
            f"the model could not take this request within {budget_ms} ms "
            "(BATCH_TIMEOUT_MS); retry, or add workers",
            headers={"Retry-After": "1"},
        )


@dataclass(eq=False)
class _Waiting:
    """A request's rows in the queue, and what it is woken with."""

    rows: np.ndarray
    probabilities: bool
    deadline: float
    woken: Event = field(default_factory=Event)
    leads: bool = False
    """Woken to lead the next batch."""
    answers: Answers | None = None
    error: Exception | None = None
    batch_rows: int = 0
    """Rows in the model call that answered it, for its log line."""

    def settle(self, answers: Answers | None = None, error: Exception | None = None) -> None:
        self.answers, self.error = answers, error
        self.woken.set()

    def outcome(self) -> Answers:
        if self.error is not None:
            raise self.error
        if self.answers is None:
            raise RuntimeError("a request left the batch queue unanswered")
        return self.answers

    @property
    def settled(self) -> bool:
        return self.answers is not None or self.error is not None


class BatchMetrics:
    """The rows each model call took, and the requests refused for want of time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._sizes = Histogram(
            "model_batch_rows",
            "Rows per model call with micro-batching on (BATCH_MAX_SIZE).",
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self._requests = Histogram(
            "model_batch_requests",
            "Requests sharing one model call with micro-batching on.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self._overloaded = Counter(
            "model_batch_overloaded",
            "Requests answered 503 after waiting BATCH_TIMEOUT_MS for the model.",
            registry=registry,
        )

    def batch(self, rows: int, requests: int) -> None:
        self._sizes.observe(rows)
        self._requests.observe(requests)

    def overloaded(self) -> None:
        self._overloaded.inc()


class Backlog:
    """Whether connections wait to be accepted on this worker's sockets (uWSGI's), by a
    poll that does not wait; outside uWSGI there are none."""

    def __init__(self) -> None:
        self._poll = select.poll()
        self._any = False
        try:
            import uwsgi  # exists only inside a uWSGI worker
        except ImportError:
            return
        for descriptor in uwsgi.sockets:
            self._poll.register(descriptor, select.POLLIN)
            self._any = True

    def waiting(self) -> bool:
        return self._any and bool(self._poll.poll(0))


class MicroBatcher:
    """Gathers the rows of a worker's concurrent requests into shared model calls."""

    def __init__(
        self,
        max_rows: int,
        max_wait_ms: float,
        timeout_ms: int,
        metrics: BatchMetrics,
        backlog: Backlog | None = None,
    ) -> None:
        self._max_rows = max_rows
        self._max_wait = max_wait_ms / 1000
        self._timeout_ms = timeout_ms
        self._metrics = metrics
        self._queue: deque[_Waiting] = deque()
        self._busy = False
        self._backlog = backlog or Backlog()

    def predict(
        self,
        rows: np.ndarray,
        probabilities: bool,
        compute: ComputeRows,
        log_fields: dict[str, Any],
    ) -> Answers:
        """This request's answers, from a model call it may share with others; the rows
        of that call go to its log line (``batch_rows``).

        Raises `Overloaded` when the request waited longer than its budget, and what
        `compute` raises for its own rows.
        """
        mine = _Waiting(rows, probabilities, time.monotonic() + self._timeout_ms / 1000)
        try:
            return self._wait(mine, compute)
        finally:
            if mine.batch_rows:
                log_fields["batch_rows"] = mine.batch_rows

    def _wait(self, mine: _Waiting, compute: ComputeRows) -> Answers:
        self._queue.append(mine)
        if not self._busy:
            self._busy = True
            return self._lead(mine, compute)
        mine.woken.wait(timeout=max(mine.deadline - time.monotonic(), 0.0))
        if not mine.woken.is_set():
            # still queued: it leaves the queue, its rows unpredicted
            with contextlib.suppress(ValueError):
                self._queue.remove(mine)
            self._metrics.overloaded()
            raise Overloaded(self._timeout_ms)
        if mine.leads and not mine.settled:
            return self._lead(mine, compute)
        return mine.outcome()

    def _lead(self, mine: _Waiting, compute: ComputeRows) -> Answers:
        """Gather, predict for everyone gathered, pass the lead on; this request's answers
        (it is the oldest in the queue, so its rows are in the batch, unless its budget
        ran out while it waited for the lead)."""
        try:
            self._gather()
            batch = self._take()
            if batch:
                self._run(batch, compute)
        finally:
            self._pass_lead()
        return mine.outcome()

    def _gather(self) -> None:
        """Let the loop take in the requests already waiting, while more keep coming.

        While connections wait to be accepted on the workers' socket (`Backlog`), or the
        last turn of the loop brought a request, it sleeps `WAIT_SLICE` at a time, so that
        their bytes arrive and they join, for at most ``BATCH_MAX_WAIT_MS``. Otherwise it
        gives the loop `QUIET_TURNS` turns, which cost microseconds: a request alone does
        not wait. It goes on when the batch is full already: the requests that join then
        wait for a later batch in the queue, where their budget (``BATCH_TIMEOUT_MS``)
        runs, rather than unseen on the socket.
        """
        give_up = time.monotonic() + self._max_wait
        quiet, grew = 0, False
        while time.monotonic() < give_up:
            coming = self._backlog.waiting()
            if not coming and quiet >= QUIET_TURNS:
                return
            queued = len(self._queue)
            gevent.sleep(WAIT_SLICE if coming or grew else 0)
            grew = len(self._queue) > queued
            quiet = 0 if grew else quiet + 1

    def _take(self) -> list[_Waiting]:
        """The oldest waiting requests, up to the row limit (always at least one); those
        past their budget are refused here."""
        batch: list[_Waiting] = []
        rows = 0
        now = time.monotonic()
        while self._queue:
            waiting = self._queue[0]
            if waiting.deadline < now:
                self._queue.popleft()
                self._metrics.overloaded()
                waiting.settle(error=Overloaded(self._timeout_ms))
                continue
            if batch and rows + len(waiting.rows) > self._max_rows:
                break
            self._queue.popleft()
            batch.append(waiting)
            rows += len(waiting.rows)
        return batch

    def _run(self, batch: list[_Waiting], compute: ComputeRows) -> None:
        """One model call for the whole batch; each request gets its own rows' answers.

        Should the shared call fail (one request's rows the model cannot take), each
        request is predicted alone, so the error reaches that request only.
        """
        if len(batch) == 1:
            waiting = batch[0]
            self._metrics.batch(len(waiting.rows), 1)
            waiting.batch_rows = len(waiting.rows)
            _settle(waiting, compute)
            return
        rows = np.concatenate([waiting.rows for waiting in batch])
        probabilities = any(waiting.probabilities for waiting in batch)
        self._metrics.batch(len(rows), len(batch))
        for waiting in batch:
            waiting.batch_rows = len(rows)
        try:
            predictions, probability_rows = compute(rows, probabilities)
        except Exception:
            for waiting in batch:
                waiting.batch_rows = len(waiting.rows)
                _settle(waiting, compute)
            return
        start = 0
        for waiting in batch:
            end = start + len(waiting.rows)
            own = None
            if waiting.probabilities and probability_rows is not None:
                own = probability_rows[start:end]
            waiting.settle((predictions[start:end], own))
            start = end

    def _pass_lead(self) -> None:
        """The oldest waiting request leads next; with none waiting, the model is free."""
        if self._queue:
            self._queue[0].leads = True
            self._queue[0].woken.set()
        else:
            self._busy = False


def _settle(waiting: _Waiting, compute: ComputeRows) -> None:
    try:
        waiting.settle(compute(waiting.rows, waiting.probabilities))
    except Exception as exc:  # the request's own error (e.g. invalid input), raised in it
        waiting.settle(error=exc)
