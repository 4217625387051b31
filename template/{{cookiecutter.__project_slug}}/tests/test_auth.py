"""Optional API keys: /v1/* needs one when keys are set; probes never do, /metrics on request."""

from __future__ import annotations

import falcon
import pytest
from falcon import testing

from {{ cookiecutter.__package_name }}.api.app import create_app
from {{ cookiecutter.__package_name }}.settings import Settings

from contract import EXAMPLE

KEYS = ("key-one-0123456789", "key-two-9876543210")
MISSING = "missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"


@pytest.fixture(scope="module")
def secured(settings: Settings) -> testing.TestClient:
    return testing.TestClient(create_app(settings.replace(api_keys=KEYS)))


def predict(client: testing.TestClient, headers: dict[str, str]) -> testing.Result:
    return client.simulate_post("/v1/predict", json={"instances": [EXAMPLE]}, headers=headers)


def unauthorized(result: testing.Result) -> str:
    """The message of a 401 in the one error shape, which asks for a bearer token."""
    assert result.status_code == 401
    assert result.headers["www-authenticate"] == "Bearer"
    assert result.json["error"]["code"] == "unauthorized"
    return result.json["error"]["message"]


def test_without_keys_the_api_is_open(client: testing.TestClient) -> None:
    assert predict(client, {}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {KEYS[0]}"},
        {"Authorization": f"bearer {KEYS[1]}"},
        {"X-API-Key": KEYS[1]},
    ],
    ids=["bearer", "bearer-lowercase", "x-api-key"],
)
def test_a_valid_key_is_accepted(secured: testing.TestClient, headers: dict[str, str]) -> None:
    assert predict(secured, headers).status_code == 200


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, MISSING),
        ({"X-API-Key": ""}, MISSING),
        ({"Authorization": "Bearer wrong"}, "invalid API key"),
        ({"X-API-Key": KEYS[0][:-1]}, "invalid API key"),
        ({"Authorization": f"Basic {KEYS[0]}"}, "the Authorization header must be `Bearer <key>`"),
        ({"Authorization": "Bearer "}, "the Authorization header must be `Bearer <key>`"),
    ],
    ids=["none", "empty", "wrong", "prefix", "basic", "no-token"],
)
def test_a_missing_or_wrong_key_is_a_401(
    secured: testing.TestClient, headers: dict[str, str], message: str
) -> None:
    assert unauthorized(predict(secured, headers)) == message


def test_every_v1_route_and_method_is_protected(secured: testing.TestClient) -> None:
    assert unauthorized(secured.simulate_get("/v1/model")) == MISSING
    assert unauthorized(secured.simulate_get("/v1/predict")) == MISSING


def test_an_unknown_route_is_a_404_with_or_without_a_key(secured: testing.TestClient) -> None:
    assert secured.simulate_get("/v1/nothing").status_code == 404


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/metrics", "/openapi.json"])
def test_probes_metrics_and_the_document_stay_open(secured: testing.TestClient, path: str) -> None:
    assert secured.simulate_get(path).status_code == 200


def test_metrics_can_be_protected_too(settings: Settings) -> None:
    protected = settings.replace(api_keys=KEYS, metrics_auth=True)
    client = testing.TestClient(create_app(protected))
    assert unauthorized(client.simulate_get("/metrics")) == MISSING
    result = client.simulate_get("/metrics", headers={"X-API-Key": KEYS[0]})
    assert result.status_code == 200
    assert client.simulate_get("/health/ready").status_code == 200


def test_a_refused_request_is_counted_under_its_route(secured: testing.TestClient) -> None:
    predict(secured, {"X-API-Key": "wrong"})
    metrics = secured.simulate_get("/metrics").text
    assert 'http_requests_total{method="POST",route="/v1/predict",status="401"}' in metrics


def test_keys_never_appear_in_the_settings_repr(settings: Settings) -> None:
    assert KEYS[0] not in repr(settings.replace(api_keys=KEYS))


def test_the_error_shape_is_kept(secured: testing.TestClient) -> None:
    result = predict(secured, {})
    assert result.headers["content-type"] == falcon.MEDIA_JSON
    assert result.json["error"]["request_id"] == result.headers["x-request-id"]
