"""GET /openapi.json (built from the schemas that validate) and GET /docs (no CDN)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from falcon import testing

from {{ cookiecutter.__package_name }}.api.app import create_app
from {{ cookiecutter.__package_name }}.api.errors import ERROR_CODES
from {{ cookiecutter.__package_name }}.api.schemas import RequestSchema
from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.settings import Settings

ALL_PATHS = [
    "/health/live",
    "/health/ready",
    "/metrics",
    "/v1/feedback",
    "/v1/model",
    "/v1/predict",
]


@pytest.fixture(scope="module")
def document(client: testing.TestClient) -> dict:
    result = client.simulate_get("/openapi.json")
    assert result.status_code == 200
    assert result.headers["content-type"] == "application/json"
    return result.json


def resolve(document: dict, ref: str) -> dict:
    assert ref.startswith("#/components/schemas/")
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_it_is_openapi_3_1_for_the_served_model(document: dict, manifest: Manifest) -> None:
    assert document["openapi"] == "3.1.0"
    assert (document["info"]["title"], document["info"]["version"]) == (
        manifest.name,
        manifest.version,
    )
    assert sorted(document["paths"]) == ALL_PATHS


def test_the_request_schema_is_the_one_that_validates(
    document: dict, manifest: Manifest, settings: Settings
) -> None:
    body = document["paths"]["/v1/predict"]["post"]["requestBody"]
    assert body["required"] is True
    schema = resolve(document, body["content"]["application/json"]["schema"]["$ref"])
    classifier = manifest.output.task == "classification"
    model = RequestSchema(manifest.input_schema, settings.max_instances, classifier).pydantic_model
    expected = model.model_json_schema(ref_template="#/components/schemas/{model}")
    expected.pop("$defs")
    assert schema == expected
    instance = resolve(document, schema["properties"]["instances"]["items"]["$ref"])
    assert list(instance["properties"]) == list(manifest.input_schema.names)
    assert instance["required"] == list(manifest.input_schema.names)
    assert instance["additionalProperties"] is False
    assert schema["properties"]["instances"]["maxItems"] == settings.max_instances


def test_the_example_comes_from_the_data_set_and_is_accepted(
    document: dict, manifest: Manifest, client: testing.TestClient
) -> None:
    media = document["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert media["example"] == {"instances": [manifest.input_schema.example]}
    assert client.simulate_post("/v1/predict", json=media["example"]).status_code == 200


def test_responses_document_every_status_the_route_answers(document: dict) -> None:
    responses = document["paths"]["/v1/predict"]["post"]["responses"]
    assert sorted(responses) == ["200", "400", "408", "413", "415", "422", "500"]
    error = resolve(document, responses["422"]["content"]["application/json"]["schema"]["$ref"])
    detail = resolve(document, error["properties"]["error"]["$ref"])
    assert detail["required"] == ["code", "message", "request_id"]
    assert detail["properties"]["code"]["enum"] == list(ERROR_CODES)


def test_predictions_are_documented_as_the_models_classes(
    document: dict, manifest: Manifest
) -> None:
    ok = document["paths"]["/v1/predict"]["post"]["responses"]["200"]
    schema = resolve(document, ok["content"]["application/json"]["schema"]["$ref"])
    items = schema["properties"]["predictions"]["items"]
    if manifest.output.task == "classification":
        assert items["enum"] == manifest.output.classes
        assert "probabilities" in schema["properties"]
    else:
        assert items["type"] == "number"
        assert "probabilities" not in schema["properties"]


def test_without_keys_no_security_is_declared(document: dict) -> None:
    assert "securitySchemes" not in document["components"]
    assert "security" not in document["paths"]["/v1/predict"]["post"]


def test_with_keys_the_v1_routes_declare_both_ways_to_send_one(settings: Settings) -> None:
    secured = settings.replace(api_keys=("k-0123456789",))
    document = testing.TestClient(create_app(secured)).simulate_get("/openapi.json").json
    assert document["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer"},
        "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }
    for path, method in [("/v1/predict", "post"), ("/v1/model", "get"), ("/v1/feedback", "post")]:
        operation = document["paths"][path][method]
        assert operation["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
        assert "401" in operation["responses"]
    assert "security" not in document["paths"]["/metrics"]["get"]
    assert "security" not in document["paths"]["/health/ready"]["get"]


class _Links(HTMLParser):
    """Every URL a page makes the browser load: scripts, styles, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.urls.append(value)


@pytest.fixture(scope="module")
def docs_page(client: testing.TestClient) -> testing.Result:
    result = client.simulate_get("/docs")
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/html")
    return result


def test_docs_load_every_asset_from_the_service_itself(
    client: testing.TestClient, docs_page: testing.Result
) -> None:
    links = _Links()
    links.feed(docs_page.text)
    assert sorted(links.urls) == [
        "/docs/favicon-32x32.png",
        "/docs/initializer.js",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
    ]
    for url in links.urls:
        asset = client.simulate_get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0, url


def test_the_browser_is_told_to_load_nothing_from_elsewhere(docs_page: testing.Result) -> None:
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in docs_page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["img-src"] == "'self' data:"


def test_the_stylesheet_and_initializer_call_out_nowhere(client: testing.TestClient) -> None:
    css = client.simulate_get("/docs/swagger-ui.css").text
    assert re.findall(r"url\(\s*(?!['\"]?data:)", css) == []
    assert "@import" not in css
    initializer = client.simulate_get("/docs/initializer.js").text
    assert 'url: "/openapi.json"' in initializer
    assert "validatorUrl: null" in initializer  # Swagger UI's default calls an online validator
    assert "http" not in initializer


def test_only_the_pages_assets_are_served(client: testing.TestClient) -> None:
    assert client.simulate_get("/docs/swagger-initializer.js").status_code == 404
    assert client.simulate_get("/docs/swagger-ui-bundle.js.map").status_code == 404
    assert client.simulate_get("/docs/..%2F..%2Fsettings.py").status_code == 404
