"""JSON-lines logging to standard output, configured once per process.

Every line starts with the same fields: time, level, logger, message. The per-request
line (`api.middleware.RequestLog`) is written with those same fields, more cheaply.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, TextIO

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))
) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value) for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def timestamp(seconds: float) -> str:
    """``seconds`` since the epoch as ISO 8601 in UTC, to the millisecond.

    Written on every request: the date and time to the second are formatted once a second.
    """
    whole, fraction = divmod(seconds, 1)
    microseconds = round(fraction * 1e6)  # as datetime rounds, so both agree to the digit
    if microseconds == 1_000_000:
        whole, microseconds = whole + 1, 0
    return f"{_to_the_second(int(whole))}.{microseconds // 1000:03d}+00:00"


@functools.lru_cache(maxsize=2)
def _to_the_second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


# StreamHandler is generic to type checkers, but subscriptable at run time only from 3.11.
class _JsonHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure_logging` installs; its type marks the root as configured."""


def configure_logging(level: str) -> None:
    """Send every logger's records to stdout as JSON lines, at ``level`` and above.

    Calling it again only changes the level: the handler is installed once.
    """
    root = logging.getLogger()
    root.setLevel(level)
    if not any(isinstance(handler, _JsonHandler) for handler in root.handlers):
        handler = _JsonHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)


PROGRESS_LOGGER = f"{__name__.rpartition('.')[0]}.progress"
"""Where training writes its progress (a network's epochs), one record per step."""


class _ProgressLine(logging.Handler):
    """A progress record as one line rewritten in place: for a person at a terminal."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        fields = {
            key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES
        }
        step = f"{record.getMessage()} {fields.pop('epoch', '')}/{fields.pop('max_epochs', '?')}"
        shown = "  ".join(f"{key} {value:.4g}" for key, value in fields.items())
        self.stream.write(f"\r\033[K{step}  {shown}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r\033[K")
        self.stream.flush()
        super().close()


@contextlib.contextmanager
def training_progress(stream: TextIO) -> Iterator[None]:
    """Show training's progress on ``stream`` while the block runs: a line rewritten in
    place when it is a terminal, JSON lines (as `JsonFormatter` writes) otherwise."""
    logger = logging.getLogger(PROGRESS_LOGGER)
    handler: logging.Handler
    if stream.isatty():
        handler = _ProgressLine(stream)
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
        handler.close()
