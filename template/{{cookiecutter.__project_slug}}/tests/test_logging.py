"""Logs are JSON lines: one per request, with its id, model, size, latency and outcome."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from falcon import testing

from {{ cookiecutter.__package_name }}.api import app as app_module
from {{ cookiecutter.__package_name }}.api.app import create_app
from {{ cookiecutter.__package_name }}.api.middleware import RequestLog
from {{ cookiecutter.__package_name }}.api.resources import LOGGED_PREDICTIONS
from {{ cookiecutter.__package_name }}.logging import (
    JsonFormatter,
    configure_logging,
    timestamp,
)
from {{ cookiecutter.__package_name }}.model.registry import Manifest
from {{ cookiecutter.__package_name }}.settings import Settings

from contract import CLASSIFIER, EXAMPLE, FEATURES, instances

MIDDLEWARE_LOGGER = "{{ cookiecutter.__package_name }}.api.middleware"


def record(**extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("svc", logging.INFO, __file__, 1, "hello %s", ("there",), None)
    entry.__dict__.update(extra)
    return entry


def test_a_record_is_one_line_of_json_with_its_extra_fields() -> None:
    line = JsonFormatter().format(record(status=200, latency_ms=0.5))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry.pop("time").endswith("+00:00")
    assert entry == {
        "level": "INFO",
        "logger": "svc",
        "message": "hello there",
        "status": 200,
        "latency_ms": 0.5,
    }


def test_an_exception_is_included_with_its_traceback() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        entry = record()
        entry.exc_info = sys.exc_info()
    assert "ValueError: broken" in json.loads(JsonFormatter().format(entry))["exception"]


@pytest.mark.parametrize(
    "seconds", [0.0, 1700000000.123, 1700000000.9995, 1700000000.9999996, 1799999999.0005]
)
def test_timestamps_are_iso_8601_utc_to_the_millisecond(seconds: float) -> None:
    expected = datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")
    assert timestamp(seconds) == expected


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, restored afterwards to its level and handlers."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    root.setLevel(level)
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)


def test_configuring_twice_installs_one_handler_and_updates_the_level(
    root_logger: logging.Logger,
) -> None:
    before = list(root_logger.handlers)
    configure_logging("INFO")
    configure_logging("WARNING")
    added = [handler for handler in root_logger.handlers if handler not in before]
    json_handlers = [h for h in root_logger.handlers if isinstance(h.formatter, JsonFormatter)]
    assert len(json_handlers) == 1
    assert len(added) <= 1
    assert root_logger.level == logging.WARNING


def test_a_request_line_has_the_same_leading_fields_as_other_lines(
    root_logger: logging.Logger,
) -> None:
    root_logger.setLevel(logging.INFO)
    stream = io.BytesIO()
    RequestLog(stream).write({"request_id": "r-1", "status": 200})
    line = stream.getvalue()
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    entry = json.loads(line)
    assert datetime.fromisoformat(entry.pop("time")).utcoffset().total_seconds() == 0
    assert entry == {
        "level": "INFO",
        "logger": MIDDLEWARE_LOGGER,
        "message": "request",
        "request_id": "r-1",
        "status": 200,
    }


def test_request_lines_follow_the_log_level(root_logger: logging.Logger) -> None:
    root_logger.setLevel(logging.WARNING)
    stream = io.BytesIO()
    RequestLog(stream).write({"request_id": "r-1"})
    assert stream.getvalue() == b""


def test_a_closed_log_stream_does_not_fail_the_request(root_logger: logging.Logger) -> None:
    root_logger.setLevel(logging.INFO)
    stream = io.BytesIO()
    stream.close()
    RequestLog(stream).write({"request_id": "r-1"})


class LoggedApp:
    """An app whose request lines go to memory, so a test can read them."""

    def __init__(self, settings: Settings) -> None:
        self.stream = io.BytesIO()
        self.client = testing.TestClient(create_app(settings, log_stream=self.stream))

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def logged(settings: Settings) -> LoggedApp:
    return LoggedApp(settings)


def test_each_prediction_request_is_one_line_with_its_outcome(
    logged: LoggedApp, manifest: Manifest
) -> None:
    result = logged.client.simulate_post(
        "/v1/predict",
        json={"instances": instances(2)},
        headers={"X-Request-ID": "r-1"},
    )
    assert result.status_code == 200
    [entry] = logged.lines()
    latency = entry.pop("latency_ms")
    assert 0 < latency < 10_000
    del entry["time"]
    assert entry == {
        "level": "INFO",
        "logger": MIDDLEWARE_LOGGER,
        "message": "request",
        "request_id": "r-1",
        "method": "POST",
        "path": "/v1/predict",
        "status": 200,
        "model_name": manifest.name,
        "model_version": manifest.version,
        "model_runtime": "native" if manifest.compiled is None else "onnx",  # which answered
        "instances": 2,
        "predictions": result.json["predictions"],
        # the instances in schema order (a missing category as the model sees it, ""),
        # for the drift command
        "inputs": [
            [
                ("" if value is None and f.type == "string" else value)
                for f, value in zip(FEATURES, row.values(), strict=True)
            ]
            for row in instances(2)
        ],
    }


def test_a_generated_request_id_is_the_one_logged_and_returned(logged: LoggedApp) -> None:
    result = logged.client.simulate_post("/v1/predict", json={"instances": [EXAMPLE]})
    [entry] = logged.lines()
    assert entry["request_id"] == result.headers["x-request-id"]


def test_a_large_batch_is_logged_as_counts_per_class(logged: LoggedApp) -> None:
    rows = instances(LOGGED_PREDICTIONS + 1)
    result = logged.client.simulate_post("/v1/predict", json={"instances": rows})
    predictions = result.json["predictions"]
    [entry] = logged.lines()
    assert "predictions" not in entry
    assert entry["instances"] == LOGGED_PREDICTIONS + 1
    if CLASSIFIER:
        counts = {str(label): predictions.count(label) for label in set(predictions)}
        assert entry["prediction_summary"] == {"counts": counts}
    else:
        assert entry["prediction_summary"] == {
            "min": min(predictions),
            "mean": pytest.approx(sum(predictions) / len(predictions)),
            "max": max(predictions),
        }


def test_a_refused_request_is_logged_with_its_error_code(logged: LoggedApp) -> None:
    logged.client.simulate_post("/v1/predict", json={"instances": []})
    [entry] = logged.lines()
    assert (entry["status"], entry["error"]) == (422, "invalid_request")
    assert "instances" not in entry


def test_probes_and_scrapes_are_not_logged(logged: LoggedApp) -> None:
    logged.client.simulate_get("/health/live")
    logged.client.simulate_get("/health/ready")
    logged.client.simulate_get("/metrics")
    assert logged.lines() == []


def test_no_request_lines_below_the_log_level(settings: Settings) -> None:
    quiet = LoggedApp(settings.replace(log_level="WARNING"))
    try:
        quiet.client.simulate_post("/v1/predict", json={"instances": [EXAMPLE]})
        assert quiet.lines() == []
    finally:
        configure_logging(settings.log_level)


@pytest.mark.parametrize(("uid", "warned"), [(0, True), (10001, False)])
def test_a_worker_warns_when_it_runs_as_root(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, uid: int, warned: bool
) -> None:
    monkeypatch.setattr(app_module.os, "geteuid", lambda: uid)
    with caplog.at_level(logging.WARNING, logger=app_module.logger.name):
        app_module.warn_if_root()
    assert any("runs as root" in record.getMessage() for record in caplog.records) == warned
