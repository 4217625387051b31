"""Property-based tests of the whole API against its own OpenAPI document, in process.

Schemathesis generates requests from /openapi.json, valid and invalid ones, sends
them to the app through WSGI (no network) and checks every answer: no 5xx, status
codes, content types, headers and bodies as documented, invalid input refused,
valid input accepted, and no route served without its API key.
"""

from __future__ import annotations

from typing import Any

import falcon
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from {{ cookiecutter.__package_name }}.api.app import create_app
from {{ cookiecutter.__package_name }}.settings import Settings

# The serving layer, whatever the model: the gates run these in full for the default
# combination only (see docs/development.md); `pytest -m 'not serving'` leaves them out.
pytestmark = pytest.mark.serving

KEY = "fuzz-key-0123456789"
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


@pytest.fixture(scope="module")
def app(settings: Settings) -> falcon.App:
    # Keys on, and /metrics protected too, so that the fuzzer sees every kind of route.
    secured = settings.replace(api_keys=(KEY,), metrics_auth=True)
    return create_app(secured)


@pytest.fixture(scope="module")
def api_schema(app: falcon.App) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_wsgi("/openapi.json", app)


@pytest.fixture(scope="module")
def cases(api_schema: schemathesis.BaseSchema) -> dict[Any, st.SearchStrategy[Any]]:
    """Requests to every operation of the document: valid ones, and ones it forbids."""
    return {mode: api_schema.as_strategy(mode) for mode in MODES}


def test_every_operation_is_fuzzed(api_schema: schemathesis.BaseSchema) -> None:
    operations = {result.ok().label for result in api_schema.get_all_operations()}
    assert operations == {
        "POST /v1/predict",
        "POST /v1/feedback",
        "GET /v1/model",
        "GET /health/live",
        "GET /health/ready",
        "GET /metrics",
    }


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
@given(data=st.data())
@hypothesis_settings(
    max_examples=60,
    deadline=None,
    database=None,  # write nothing into the project
    derandomize=True,  # the same cases on every run: CI never flakes
    suppress_health_check=[HealthCheck.too_slow],
)
def test_the_api_answers_as_documented(
    cases: dict[Any, st.SearchStrategy[Any]], mode: Any, data: st.DataObject
) -> None:
    case = data.draw(cases[mode])
    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"})
