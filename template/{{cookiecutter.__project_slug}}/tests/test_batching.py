"""Micro-batching in one process: requests on gevent's loop sharing model calls.

The server's own behaviour (uWSGI, HTTP, 16 clients, the 503) is in test_faster_serving.py.
"""

from __future__ import annotations

import re
import time
from typing import Any

import gevent
import numpy as np
import pytest
from falcon import testing
from prometheus_client import CollectorRegistry

from {{ cookiecutter.__package_name }}.api.app import create_app
from {{ cookiecutter.__package_name }}.api.batching import (
    BatchMetrics,
    MicroBatcher,
    Overloaded,
)
from {{ cookiecutter.__package_name }}.model.base import InvalidInputError
from {{ cookiecutter.__package_name }}.settings import Settings, SettingsError

from contract import CLASSIFIER, instances


class Model:
    """Answers each row with its first value; records the rows of each call."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.calls: list[int] = []
        self.seconds = seconds

    def __call__(self, rows: np.ndarray, probabilities: bool) -> Any:
        self.calls.append(len(rows))
        if (rows < 0).any():
            raise InvalidInputError("negative")
        time.sleep(self.seconds)  # holds the loop, as a model's computation does
        values = rows[:, 0].tolist()
        return values, [{"p": value} for value in values] if probabilities else None


def batcher(max_rows: int = 64, max_wait_ms: float = 50, timeout_ms: int = 5000) -> MicroBatcher:
    return MicroBatcher(max_rows, max_wait_ms, timeout_ms, BatchMetrics(CollectorRegistry()))


def concurrently(batching: MicroBatcher, model: Model, requests: list[np.ndarray]) -> list[Any]:
    """Each request in its own greenlet, as uWSGI's gevent loop runs them; their outcomes."""

    def one(rows: np.ndarray) -> Any:
        try:
            return batching.predict(rows, True, model, {})
        except Exception as error:
            return error

    greenlets = [gevent.spawn(one, rows) for rows in requests]
    gevent.joinall(greenlets, timeout=30)
    return [greenlet.value for greenlet in greenlets]


def test_concurrent_requests_share_one_call_and_each_gets_its_own_rows() -> None:
    model = Model()
    requests = [np.array([[float(n), 0.0]] * (n % 3 + 1)) for n in range(10)]
    answers = concurrently(batcher(), model, requests)
    assert model.calls == [sum(len(rows) for rows in requests)]
    for rows, (predictions, probabilities) in zip(requests, answers, strict=True):
        assert predictions == rows[:, 0].tolist()
        assert probabilities == [{"p": value} for value in rows[:, 0].tolist()]


def test_a_call_takes_at_most_the_row_limit_and_the_rest_go_next() -> None:
    model = Model()
    requests = [np.array([[float(n)]] * 2) for n in range(5)]
    answers = concurrently(batcher(max_rows=4), model, requests)
    assert model.calls == [4, 4, 2]
    assert [predictions for predictions, _ in answers] == [rows[:, 0].tolist() for rows in requests]


def test_a_request_larger_than_the_limit_is_predicted_alone() -> None:
    model = Model()
    answers = concurrently(batcher(max_rows=2), model, [np.ones((5, 1)), np.ones((1, 1))])
    assert model.calls == [5, 1]
    assert [len(predictions) for predictions, _ in answers] == [5, 1]


def test_a_request_the_model_refuses_fails_alone() -> None:
    model = Model()
    requests = [np.array([[1.0]]), np.array([[-1.0]]), np.array([[3.0]])]
    first, refused, third = concurrently(batcher(), model, requests)
    assert isinstance(refused, InvalidInputError)
    assert (first[0], third[0]) == ([1.0], [3.0])
    assert model.calls == [3, 1, 1, 1]  # the shared call failed: each alone


def test_a_request_waiting_past_its_budget_is_refused_and_its_rows_not_predicted() -> None:
    model = Model(seconds=0.2)
    requests = [np.array([[float(n)]]) for n in range(3)]
    first, *late = concurrently(batcher(max_rows=1, timeout_ms=100), model, requests)
    assert first[0] == [0.0]
    assert all(isinstance(outcome, Overloaded) for outcome in late), late
    assert model.calls == [1]


def test_a_request_alone_does_not_wait_for_others() -> None:
    model = Model()
    batching = batcher(max_wait_ms=1000)
    started = time.monotonic()
    batching.predict(np.ones((1, 1)), False, model, {})
    # a bound, not a timing: the batch would wait up to 1000 ms for company
    assert time.monotonic() - started < 0.5


def test_the_log_line_gets_the_rows_of_the_call() -> None:
    fields: dict[str, Any] = {}
    batcher().predict(np.ones((3, 1)), False, Model(), fields)
    assert fields["batch_rows"] == 3


def test_the_batching_service_answers_as_the_plain_one(settings: Settings) -> None:
    plain = testing.TestClient(create_app(settings))
    batched = testing.TestClient(create_app(settings.replace(batch_max_size=8)))
    body: dict[str, Any] = {"instances": instances(5)}
    if CLASSIFIER:  # a regressor refuses the flag
        body["return_probabilities"] = True
    answer = batched.simulate_post("/v1/predict", json=body)
    assert answer.status_code == 200
    assert answer.json == plain.simulate_post("/v1/predict", json=body).json
    metrics = batched.simulate_get("/metrics").text
    assert "model_batch_rows_count 1.0" in metrics


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("BATCH_MAX_SIZE", "-1", "BATCH_MAX_SIZE must be 0 (off) or a positive integer, got '-1'"),
        ("BATCH_MAX_WAIT_MS", "5000", "BATCH_MAX_WAIT_MS must be milliseconds from 0 to 1000"),
        ("BATCH_TIMEOUT_MS", "0", "BATCH_TIMEOUT_MS must be a positive number of milliseconds"),
    ],
)
def test_a_bad_batching_setting_is_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env({variable: value})


def test_batching_is_off_by_default() -> None:
    assert Settings().batch_max_size == 0
