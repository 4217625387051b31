"""Logs are JSON lines on stdout, extra fields included; configuring twice adds nothing."""

from __future__ import annotations

import json
import logging
import sys

from {{ cookiecutter.__package_name }}.logging import JsonFormatter, configure_logging


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


def test_configuring_twice_installs_one_handler_and_updates_the_level() -> None:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        configure_logging("INFO")
        configure_logging("WARNING")
        added = [handler for handler in root.handlers if handler not in handlers]
        json_handlers = [h for h in root.handlers if isinstance(h.formatter, JsonFormatter)]
        assert len(json_handlers) == 1
        assert len(added) <= 1
        assert root.level == logging.WARNING
    finally:
        root.setLevel(level)
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
