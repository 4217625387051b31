"""The prediction cache (PREDICTION_CACHE): the model's answers, kept per worker."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from falcon import testing

from {{ cookiecutter.__package_name }}.api.app import create_app
from {{ cookiecutter.__package_name }}.settings import Settings, SettingsError

from contract import CLASSIFIER, NUMBER, instance, instances


def lookups(client: testing.TestClient) -> dict[str, float]:
    """The cache's hits and misses in /metrics (those above zero)."""
    found = {}
    for line in client.simulate_get("/metrics").text.splitlines():
        if line.startswith("prediction_cache_lookups_total{"):
            result = line.split('result="')[1].split('"')[0]
            found[result] = float(line.rsplit(" ", 1)[1])
    return {result: count for result, count in found.items() if count}


@pytest.fixture
def log() -> io.BytesIO:
    return io.BytesIO()


@pytest.fixture
def cached(settings: Settings, log: io.BytesIO) -> testing.TestClient:
    return testing.TestClient(create_app(settings.replace(prediction_cache=3), log_stream=log))


def test_a_repeated_instance_is_answered_from_the_cache_as_the_model_answered(
    cached: testing.TestClient, client: testing.TestClient, log: io.BytesIO
) -> None:
    body: dict[str, Any] = {"instances": instances(2)}
    if CLASSIFIER:
        body["return_probabilities"] = True
    first = cached.simulate_post("/v1/predict", json=body)
    again = cached.simulate_post("/v1/predict", json=body)
    assert again.json == first.json == client.simulate_post("/v1/predict", json=body).json
    assert lookups(cached) == {"miss": 2.0, "hit": 2.0}
    logged = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [line["cache_hits"] for line in logged if line.get("status") == 200] == [0, 2]


def test_a_number_written_differently_is_the_same_instance(cached: testing.TestClient) -> None:
    """5 and 5.0 are one number: one entry (the canonical key of `store.keys`)."""
    for value in (5, 5.0):
        cached.simulate_post(
            "/v1/predict", json={"instances": [{**instance(0), NUMBER.name: value}]}
        )
    assert lookups(cached) == {"miss": 1.0, "hit": 1.0}


def test_the_cache_holds_at_most_its_entries_least_recently_used_out(
    cached: testing.TestClient,
) -> None:
    for row in (0, 50, 100, 149):  # four instances, three entries: row 0 goes
        cached.simulate_post("/v1/predict", json={"instances": [instance(row)]})
    cached.simulate_post("/v1/predict", json={"instances": [instance(0)]})
    assert lookups(cached) == {"miss": 5.0}


def test_an_entry_kept_without_probabilities_is_asked_again_with_them(
    cached: testing.TestClient, client: testing.TestClient
) -> None:
    plain = {"instances": [instance(0)]}
    with_probabilities = {**plain, "return_probabilities": True}
    cached.simulate_post("/v1/predict", json=plain)
    answer = cached.simulate_post("/v1/predict", json=with_probabilities)
    if not CLASSIFIER:  # a regressor refuses the flag, before the cache is asked
        assert answer.status_code == 422
        assert "return_probabilities" in answer.json["error"]["message"]
        assert lookups(cached) == {"miss": 1.0}
        return
    assert answer.json == client.simulate_post("/v1/predict", json=with_probabilities).json
    cached.simulate_post("/v1/predict", json=plain)
    assert lookups(cached) == {"miss": 2.0, "hit": 1.0}


def test_a_bad_cache_size_is_named() -> None:
    with pytest.raises(SettingsError, match=r"PREDICTION_CACHE must be 0 \(off\) or a positive"):
        Settings.from_env({"PREDICTION_CACHE": "many"})


def test_the_cache_is_off_by_default() -> None:
    assert Settings().prediction_cache == 0
