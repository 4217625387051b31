"""The HTTP API, through Falcon's test client: predictions, every error, limits, health."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import falcon
import numpy as np
import pytest
from falcon import testing
from pydantic import ValidationError

from {{ cookiecutter.__package_name }}.api.app import create_app
from {{ cookiecutter.__package_name }}.api.errors import (
    from_validation_error,
    serialize_error,
)
from {{ cookiecutter.__package_name }}.api.resources import HealthResource
from {{ cookiecutter.__package_name }}.api.schemas import RequestSchema
from {{ cookiecutter.__package_name }}.model import registry
from {{ cookiecutter.__package_name }}.model.base import InvalidInputError
from {{ cookiecutter.__package_name }}.model.predictor import Predictor
from {{ cookiecutter.__package_name }}.model.registry import IntegrityError, Manifest
from {{ cookiecutter.__package_name }}.model.schema import Feature, InputSchema
from {{ cookiecutter.__package_name }}.settings import Settings

from contract import CLASSIFIER, EXAMPLE, LAST, NUMBER, TYPE_ERROR, instances

N = NUMBER.name
NUMBER_ERROR = TYPE_ERROR[NUMBER.type]
JSON = {"Content-Type": "application/json"}


def predict(client: testing.TestClient, body: Any, **kwargs: Any) -> testing.Result:
    return client.simulate_post("/v1/predict", json=body, **kwargs)


def error_of(result: testing.Result) -> dict[str, str]:
    """The error body, checked for the one shape; its request id is the response's."""
    assert result.headers["content-type"] == falcon.MEDIA_JSON
    assert list(result.json) == ["error"]
    error = result.json["error"]
    assert list(error) == ["code", "message", "request_id"]
    assert error.pop("request_id") == result.headers["x-request-id"]
    return error


def expected(models_dir: Path, manifest: Manifest, rows: list[dict[str, Any]]) -> list[Any]:
    """What the registered model itself predicts for ``rows``, as JSON would carry it: the
    model in the runtime the app serves (MODEL_RUNTIME=auto: the compiled one, if any)."""
    model = registry.load_served(
        models_dir, manifest.name, manifest.version, Predictor, runtime="auto"
    ).model
    names = manifest.input_schema.names
    X = np.array([[row[name] for name in names] for row in rows], dtype=object)
    for index, feature in enumerate(manifest.input_schema.features):
        missing = "" if feature.type == "string" else np.nan
        X[:, index] = [missing if value is None else value for value in X[:, index]]
    return model.predict(X.astype(manifest.input_schema.dtype)).tolist()


def test_predicts_one_instance(
    client: testing.TestClient, manifest: Manifest, models_dir: Path
) -> None:
    result = predict(client, {"instances": [EXAMPLE]})
    assert result.status_code == 200
    assert result.json == {
        "predictions": expected(models_dir, manifest, [EXAMPLE]),
        "model": {"name": manifest.name, "version": manifest.version},
    }


def test_predicts_many_instances_in_order(
    client: testing.TestClient, manifest: Manifest, models_dir: Path
) -> None:
    rows = instances(25)
    predictions = predict(client, {"instances": rows}).json["predictions"]
    assert predictions == expected(models_dir, manifest, rows)
    if CLASSIFIER:
        assert set(predictions) <= set(manifest.output.classes)
    else:
        assert all(isinstance(value, float) for value in predictions)


def test_integral_numbers_are_taken_for_integer_features(
    client: testing.TestClient, manifest: Manifest
) -> None:
    # pandas-built clients send integer columns as 127.0; integers are valid numbers too.
    integral = {
        f.name: float(EXAMPLE[f.name]) if f.type == "integer" else EXAMPLE[f.name]
        for f in manifest.input_schema.features
        if EXAMPLE[f.name] is not None
    }
    as_ints = {
        name: int(value) if isinstance(value, float) and value.is_integer() else value
        for name, value in {**EXAMPLE, **integral}.items()
    }
    first = predict(client, {"instances": [{**EXAMPLE, **integral}]})
    second = predict(client, {"instances": [as_ints]})
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json["predictions"] == second.json["predictions"]


def test_probabilities_are_answered_when_a_classifier_is_asked(
    client: testing.TestClient, manifest: Manifest
) -> None:
    result = predict(client, {"instances": instances(5), "return_probabilities": True})
    if not CLASSIFIER:
        assert result.status_code == 422
        assert error_of(result)["message"] == (
            "return_probabilities: Extra inputs are not permitted"
        )
        return
    assert result.status_code == 200
    probabilities = result.json["probabilities"]
    assert len(probabilities) == len(result.json["predictions"])
    for row, label in zip(probabilities, result.json["predictions"], strict=True):
        assert list(row) == [str(label) for label in manifest.output.classes]
        assert sum(row.values()) == pytest.approx(1.0)
        assert max(row, key=row.__getitem__) == str(label)
    assert "probabilities" not in predict(client, {"instances": [EXAMPLE]}).json


def test_the_manifest_example_is_a_valid_request(
    client: testing.TestClient, manifest: Manifest
) -> None:
    result = predict(client, {"instances": [manifest.input_schema.example]})
    assert result.status_code == 200


def test_a_charset_parameter_is_accepted(client: testing.TestClient) -> None:
    result = client.simulate_post(
        "/v1/predict",
        body=json.dumps({"instances": [EXAMPLE]}),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert result.status_code == 200


def test_a_request_id_is_generated_when_none_is_sent(client: testing.TestClient) -> None:
    first = predict(client, {"instances": [EXAMPLE]}).headers["x-request-id"]
    second = predict(client, {"instances": [EXAMPLE]}).headers["x-request-id"]
    assert len(first) == 32
    assert int(first, 16) >= 0
    assert first != second


def test_a_clients_request_id_is_echoed(client: testing.TestClient) -> None:
    echoed = client.simulate_get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"


@pytest.mark.parametrize("unusable", ["x" * 129, "two words", "caf\u00e9"])
def test_an_unusable_request_id_is_replaced(client: testing.TestClient, unusable: str) -> None:
    result = client.simulate_get("/health/live", headers={"X-Request-ID": unusable})
    assert len(result.headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    ("instance", "message"),
    [
        (
            {k: v for k, v in EXAMPLE.items() if k != LAST},
            f"instances[0].{LAST}: Field required",
        ),
        (
            {**EXAMPLE, "not_a_feature": "blue"},
            "instances[0].not_a_feature: Extra inputs are not permitted",
        ),
        ({**EXAMPLE, N: "5.1"}, f"instances[0].{N}: {NUMBER_ERROR}"),
        ({**EXAMPLE, N: True}, f"instances[0].{N}: {NUMBER_ERROR}"),
        ({**EXAMPLE, N: [1.4]}, f"instances[0].{N}: {NUMBER_ERROR}"),
        ("text", "instances[0]: Input should be an object"),
    ],
    ids=["missing", "unknown", "string", "boolean", "list", "not-an-object"],
)
def test_an_invalid_instance_is_a_422_naming_the_field(
    client: testing.TestClient, instance: Any, message: str
) -> None:
    result = predict(client, {"instances": [instance]})
    assert result.status_code == 422
    assert error_of(result) == {"code": "invalid_request", "message": message}


@pytest.mark.parametrize("value", [10**15 + 1, -(10**15) - 1, 1.5e15, 1.7976931348623157e308])
def test_numbers_beyond_1e15_are_refused(client: testing.TestClient, value: float) -> None:
    result = predict(client, {"instances": [{**EXAMPLE, N: value}]})
    assert result.status_code == 422
    bound = "less than or equal to " if value > 0 else "greater than or equal to -"
    assert error_of(result) == {
        "code": "invalid_request",
        "message": f"instances[0].{N}: Input should be {bound}1000000000000000",
    }


def test_errors_in_several_instances_are_all_named(client: testing.TestClient) -> None:
    second = {k: v for k, v in EXAMPLE.items() if k != LAST}
    result = predict(client, {"instances": [EXAMPLE, second, {**EXAMPLE, "x": 1}]})
    assert error_of(result)["message"] == (
        f"instances[1].{LAST}: Field required; instances[2].x: Extra inputs are not permitted"
    )


def test_at_most_five_errors_are_listed(client: testing.TestClient) -> None:
    result = predict(client, {"instances": [{}] * 6})
    message = error_of(result)["message"]
    assert message.count("Field required") == 5
    assert re.search(r"; and \d+ more$", message)


def test_null_is_taken_exactly_for_the_nullable_features(
    client: testing.TestClient, manifest: Manifest
) -> None:
    for feature in manifest.input_schema.features:
        result = predict(client, {"instances": [{**EXAMPLE, feature.name: None}]})
        assert result.status_code == (200 if feature.nullable else 422), feature.name
        if not feature.nullable:
            assert error_of(result)["message"].startswith(f"instances[0].{feature.name}: ")


GAPPY = InputSchema(
    features=(
        Feature("count", "integer"),
        Feature("size", "number", nullable=True),
        Feature("colour", "string", allowed=tuple(f"c{i:03}" for i in range(300)), nullable=True),
    ),
    example={"count": 1, "size": None, "colour": "c000"},
)


def test_nulls_become_the_models_missing_values() -> None:
    schema = RequestSchema(GAPPY, max_instances=10, classifier=False)
    body = {"instances": [{"count": 127.0, "size": None, "colour": None}]}
    X, probabilities = schema.parse(json.dumps(body).encode())
    assert X.tolist()[0][0] == 127
    assert np.isnan(X[0, 1])
    assert X[0, 2] == ""
    assert probabilities is False


@pytest.mark.parametrize(
    ("instance", "message"),
    [
        ({"count": 1.5}, "count: Input should be a valid integer"),
        ({"count": "1"}, "count: Input should be a valid integer"),
        ({"count": None}, "count: Input should be a valid integer"),
        (
            {"colour": "red"},
            "colour: Input should be one of 'c000', 'c001', 'c002', 'c003', 'c004' and 295 more "
            "(300 allowed; GET /v1/model lists them)",
        ),
    ],
    ids=["fraction", "string", "null-where-not-nullable", "unknown-category"],
)
def test_schema_errors_name_the_field_and_list_a_few_categories(
    instance: dict[str, Any], message: str
) -> None:
    schema = RequestSchema(GAPPY, max_instances=10, classifier=False)
    body = {"instances": [{"count": 1, "size": 2.0, "colour": "c001", **instance}]}
    with pytest.raises(ValidationError) as caught:
        schema.parse(json.dumps(body).encode())
    assert from_validation_error(caught.value).description == f"instances[0].{message}"


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused(client: testing.TestClient, token: str) -> None:
    body = json.dumps({"instances": [{**EXAMPLE, N: 12345.5}]}).replace("12345.5", token)
    result = client.simulate_post("/v1/predict", body=body, headers=JSON)
    assert result.status_code == 422
    error = error_of(result)
    assert error["code"] == "invalid_request"
    assert error["message"].startswith(f"instances[0].{N}: Input should be a ")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"instances": []}, "instances: List should have at least 1 item after validation, not 0"),
        ({"instances": EXAMPLE}, "instances: Input should be a valid array"),
        ({}, "instances: Field required"),
        ({"instances": [EXAMPLE], "extra": 1}, "extra: Extra inputs are not permitted"),
        ([EXAMPLE], "body: Input should be an object"),
    ],
    ids=["empty-list", "not-a-list", "no-instances", "unknown-key", "not-an-object"],
)
def test_a_malformed_request_is_a_422_naming_the_field(
    client: testing.TestClient, body: Any, message: str
) -> None:
    result = predict(client, body)
    assert result.status_code == 422
    assert error_of(result) == {"code": "invalid_request", "message": message}


def test_more_instances_than_allowed_is_a_422(settings: Settings) -> None:
    small = testing.TestClient(create_app(settings.replace(max_instances=2)))
    result = predict(small, {"instances": [EXAMPLE] * 3})
    assert result.status_code == 422
    assert error_of(result) == {
        "code": "invalid_request",
        "message": "instances: List should have at most 2 items after validation, not 3",
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{", "Invalid JSON: EOF while parsing an object at line 1 column 1"),
        ("not json", "Invalid JSON: expected ident at line 1 column 2"),
        ("[" * 1000, "Invalid JSON: recursion limit exceeded at line 1 column 202"),
    ],
    ids=["truncated", "text", "deeply-nested"],
)
def test_a_body_that_is_not_json_is_a_400(
    client: testing.TestClient, body: str, message: str
) -> None:
    result = client.simulate_post("/v1/predict", body=body, headers=JSON)
    assert result.status_code == 400
    assert error_of(result) == {"code": "malformed_json", "message": message}


def test_a_body_over_the_limit_is_a_413_before_it_is_read(settings: Settings) -> None:
    small = testing.TestClient(create_app(settings.replace(max_body_bytes=100)))
    body = json.dumps({"instances": [EXAMPLE, EXAMPLE]})
    result = small.simulate_post("/v1/predict", body=body, headers=JSON)
    assert result.status_code == 413
    assert error_of(result) == {
        "code": "payload_too_large",
        "message": f"the body is {len(body)} bytes; the limit is 100 bytes (MAX_BODY_BYTES)",
    }
    assert small.simulate_post("/v1/predict", body=body[:100], headers=JSON).status_code == 400


def test_an_empty_body_is_a_400(client: testing.TestClient) -> None:
    result = client.simulate_post("/v1/predict", headers=JSON)
    assert result.status_code == 400
    assert error_of(result) == {
        "code": "malformed_json",
        "message": "the body is empty (or has no Content-Length)",
    }


@pytest.mark.parametrize(
    ("headers", "shown"), [({"Content-Type": "text/plain"}, "text/plain"), ({}, "none")]
)
def test_a_body_that_is_not_declared_json_is_a_415(
    client: testing.TestClient, headers: dict[str, str], shown: str
) -> None:
    result = client.simulate_post(
        "/v1/predict", body=json.dumps({"instances": [EXAMPLE]}), headers=headers
    )
    assert result.status_code == 415
    assert error_of(result) == {
        "code": "unsupported_media_type",
        "message": f"Content-Type must be application/json, got {shown}",
    }


def test_an_unknown_route_is_a_404_in_the_same_shape(client: testing.TestClient) -> None:
    result = client.simulate_get("/v2/predict")
    assert result.status_code == 404
    assert error_of(result) == {"code": "not_found", "message": "no resource at /v2/predict"}


def test_a_wrong_method_is_a_405_in_the_same_shape(client: testing.TestClient) -> None:
    result = client.simulate_get("/v1/predict")
    assert result.status_code == 405
    assert error_of(result) == {
        "code": "method_not_allowed",
        "message": "GET is not allowed on /v1/predict (allowed: POST, OPTIONS)",
    }


def test_input_the_model_refuses_is_a_422(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Predictor, X: Any) -> Any:
        raise InvalidInputError("the model cannot take this")

    monkeypatch.setattr(Predictor, "predict", refuse)
    native = settings.replace(model_runtime="native")  # the patched class is the native one
    result = predict(testing.TestClient(create_app(native)), {"instances": [EXAMPLE]})
    assert result.status_code == 422
    assert error_of(result) == {"code": "invalid_input", "message": "the model cannot take this"}


def test_values_the_model_cannot_scale_are_a_422_not_a_warning(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    load = Predictor.load

    def overflowing(cls: type[Predictor], path: Path) -> Predictor:
        predictor = load(path)
        predictor.pipeline.predict = lambda X: np.full(len(X), 1e308) * 10
        return predictor

    monkeypatch.setattr(Predictor, "load", classmethod(overflowing))
    native = settings.replace(model_runtime="native")  # the patched class is the native one
    result = predict(testing.TestClient(create_app(native)), {"instances": [EXAMPLE]})
    assert result.status_code == 422
    assert error_of(result) == {
        "code": "invalid_input",
        "message": "feature values too large for the model (overflow encountered in multiply)",
    }


def test_an_unexpected_exception_is_a_logged_500_and_the_app_carries_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = Predictor.predict
    calls = []

    def explode_once(self: Predictor, X: Any) -> Any:
        calls.append(X)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return original(self, X)

    monkeypatch.setattr(Predictor, "predict", explode_once)
    client = testing.TestClient(create_app(settings.replace(model_runtime="native")))
    result = predict(client, {"instances": [EXAMPLE]}, headers={"X-Request-ID": "r-500"})
    assert result.status_code == 500
    assert error_of(result) == {"code": "internal_error", "message": "internal server error"}
    [record] = [r for r in caplog.records if r.message == "unhandled exception"]
    assert vars(record)["request_id"] == "r-500"
    assert record.exc_info is not None
    assert "boom" in str(record.exc_info[1])
    assert predict(client, {"instances": [EXAMPLE]}).status_code == 200


def test_liveness(client: testing.TestClient) -> None:
    result = client.simulate_get("/health/live")
    assert (result.status_code, result.json) == (200, {"status": "alive"})


def test_readiness_names_the_loaded_model(client: testing.TestClient, manifest: Manifest) -> None:
    result = client.simulate_get("/health/ready")
    assert result.status_code == 200
    assert result.json == {
        "status": "ready",
        "model": {"name": manifest.name, "version": manifest.version},
    }


def test_readiness_is_503_while_no_model_is_loaded() -> None:
    app = falcon.App()
    app.set_error_serializer(serialize_error)
    app.add_route("/health/ready", HealthResource(None), suffix="ready")
    result = testing.TestClient(app).simulate_get("/health/ready")
    assert result.status_code == 503
    assert result.json["error"]["code"] == "not_ready"
    assert result.json["error"]["message"] == "no model loaded yet"


def test_the_model_endpoint_serves_the_manifest(
    client: testing.TestClient, manifest: Manifest
) -> None:
    result = client.simulate_get("/v1/model")
    assert result.status_code == 200
    runtime = "native" if manifest.compiled is None else "onnx"  # MODEL_RUNTIME=auto
    assert result.json == {**json.loads(json.dumps(manifest.to_dict())), "runtime": runtime}


def test_the_app_refuses_to_start_on_a_tampered_artifact(
    settings: Settings, manifest: Manifest, tmp_path: Path
) -> None:
    models_dir = Path(shutil.copytree(settings.models_dir, tmp_path / "models"))
    with (models_dir / manifest.artifact.file).open("ab") as artifact:
        artifact.write(b"tampered")
    with pytest.raises(IntegrityError, match=manifest.artifact.file):
        create_app(Settings(models_dir=models_dir, model_name=manifest.name))
