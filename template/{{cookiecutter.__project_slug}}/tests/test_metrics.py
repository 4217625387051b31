"""GET /metrics in one process; tests/test_server.py checks the sums across uWSGI workers."""

from __future__ import annotations

import dataclasses

import pytest
from falcon import testing
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.__package_name }}.api.app import create_app
from {{ cookiecutter.__package_name }}.api.metrics import Metrics
from {{ cookiecutter.__package_name }}.model.registry import Manifest, Output
from {{ cookiecutter.__package_name }}.settings import Settings

from contract import CLASSIFIER, EXAMPLE, LAST, instances

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def client(settings: Settings) -> testing.TestClient:
    """A fresh app per test, so every count starts at zero."""
    return testing.TestClient(create_app(settings))


def scrape(client: testing.TestClient) -> Samples:
    result = client.simulate_get("/metrics")
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/plain")
    return samples(result.text)


def test_predictions_are_counted_by_instance_and_class_or_value(
    client: testing.TestClient,
) -> None:
    rows = instances(12)
    first = client.simulate_post("/v1/predict", json={"instances": rows[:-1]}).json
    last = client.simulate_post("/v1/predict", json={"instances": rows[-1:]}).json
    predictions = first["predictions"] + last["predictions"]
    found = scrape(client)
    assert found[("model_instances_total", ())] == len(rows)
    if CLASSIFIER:
        for label in set(predictions):
            counted = found[("model_predictions_total", (("class", str(label)),))]
            assert counted == predictions.count(label)
    else:
        assert found[("model_prediction_value_count", ())] == len(rows)


def test_requests_for_probabilities_are_counted(client: testing.TestClient) -> None:
    body = {"instances": [EXAMPLE]}
    if CLASSIFIER:
        body["return_probabilities"] = True
    client.simulate_post("/v1/predict", json=body)
    client.simulate_post("/v1/predict", json={"instances": [EXAMPLE]})
    assert scrape(client)[("model_probability_requests_total", ())] == int(CLASSIFIER)


def test_requests_are_counted_by_method_route_and_status(client: testing.TestClient) -> None:
    client.simulate_post("/v1/predict", json={"instances": [EXAMPLE]})
    client.simulate_post("/v1/predict", json={"instances": []})
    client.simulate_get("/v1/predict")
    client.simulate_get("/no/such/path")
    client.simulate_get("/health/ready")
    found = scrape(client)

    def requests(method: str, route: str, status: str) -> float:
        labels = (("method", method), ("route", route), ("status", status))
        return found[("http_requests_total", labels)]

    assert requests("POST", "/v1/predict", "200") == 1
    assert requests("POST", "/v1/predict", "422") == 1
    assert requests("GET", "/v1/predict", "405") == 1
    assert requests("GET", "unmatched", "404") == 1
    assert requests("GET", "/health/ready", "200") == 1


def test_latency_is_a_histogram_by_route(client: testing.TestClient) -> None:
    for _ in range(3):
        client.simulate_post("/v1/predict", json={"instances": [EXAMPLE]})
    found = scrape(client)
    route = (("route", "/v1/predict"),)
    assert found[("http_request_duration_seconds_count", route)] == 3
    assert found[("http_request_duration_seconds_sum", route)] > 0
    infinite = (("le", "+Inf"), ("route", "/v1/predict"))
    assert found[("http_request_duration_seconds_bucket", infinite)] == 3


def test_validation_failures_are_counted_by_field(client: testing.TestClient) -> None:
    missing = {k: v for k, v in EXAMPLE.items() if k != LAST}
    client.simulate_post("/v1/predict", json={"instances": [missing, missing]})
    client.simulate_post("/v1/predict", json={"instances": [{**EXAMPLE, "not_a_feature": "red"}]})
    client.simulate_post("/v1/predict", json={"instances": []})
    client.simulate_post("/v1/predict", body="{", headers={"Content-Type": "application/json"})
    found = scrape(client)

    def failures(field: str) -> float:
        return found[("http_validation_failures_total", (("field", field),))]

    assert failures(LAST) == 1  # once per request, however many instances lack it
    assert failures("unknown") == 1  # a field name the client made up is not a label
    assert failures("instances") == 1
    assert failures("body") == 1


def test_the_model_is_described_by_an_info_metric_and_its_load_time(
    client: testing.TestClient, manifest: Manifest
) -> None:
    found = scrape(client)
    labels = (("name", manifest.name), ("version", manifest.version))
    assert found[("model_info", labels)] == 1
    assert 0 < found[("model_load_seconds", ())] < 60


def test_labels_stay_bounded_whatever_the_client_sends(
    client: testing.TestClient, manifest: Manifest
) -> None:
    client.simulate_get(f"/{'x' * 50}")
    routes = {dict(labels).get("route") for _, labels in scrape(client)}
    assert f"/{'x' * 50}" not in routes
    metrics = Metrics(manifest, metrics_dir=None)
    metrics.request_answered("BREW", "/v1/predict", 405, 0.001)
    metrics.validation_failed([("instances", 0, "made_up_feature"), ("made_up_key",)])
    found = samples(metrics.exposition()[0].decode())
    other = (("method", "OTHER"), ("route", "/v1/predict"), ("status", "405"))
    assert found[("http_requests_total", other)] == 1
    assert found[("http_validation_failures_total", (("field", "unknown"),))] == 1


def test_a_regression_model_gets_a_histogram_of_predicted_values(manifest: Manifest) -> None:
    regression = dataclasses.replace(manifest, output=Output(task="regression", classes=[]))
    metrics = Metrics(regression, metrics_dir=None)
    metrics.predicted([0.5, 2.0, 50.0])
    found = samples(metrics.exposition()[0].decode())
    assert found[("model_prediction_value_count", ())] == 3
    assert found[("model_prediction_value_bucket", (("le", "1.0"),))] == 1
    assert found[("model_prediction_value_bucket", (("le", "10.0"),))] == 2
    assert not any(name.startswith("model_predictions") for name, _ in found)


def test_the_exposition_is_prometheus_text(client: testing.TestClient) -> None:
    text = client.simulate_get("/metrics").text
    assert "# TYPE http_requests_total counter" in text
    assert "# HELP model_instances_total Instances predicted (a request may hold many)." in text
