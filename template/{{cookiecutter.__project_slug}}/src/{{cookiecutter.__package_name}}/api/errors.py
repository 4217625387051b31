"""Every error response has one shape: ``{"error": {"code", "message", "request_id"}}``.

Client mistakes are 4xx with a message naming the field; anything unexpected is a
logged 500. Codes are stable identifiers clients can match on; messages are for people;
the request id ties the answer to its log line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import falcon
import orjson
from pydantic import ValidationError

logger = logging.getLogger(__name__)

_MAX_REPORTED_ERRORS = 5

# Codes of the errors Falcon raises itself (unknown route, wrong method, a bad header...).
_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal_error",
    503: "not_ready",
}

ERROR_CODES: tuple[str, ...] = (
    *dict.fromkeys(_DEFAULT_CODES.values()),
    "malformed_json",
    "invalid_input",
    "unknown_prediction",  # POST /v1/feedback for a prediction never made, or forgotten
    "duplicate_feedback",  # ... for a prediction that has its ground truth already
    "overloaded",
    "error",
)
"""Every code an error response can carry (``error`` for statuses no other code covers)."""


class ApiError(falcon.HTTPError):
    """An HTTP error with a stable, machine-readable code and a message for people."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status, description=message, headers=headers)
        self.error_code = code


def serialize_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    """Falcon's error serializer: render any `falcon.HTTPError` in the one error shape."""
    if isinstance(error, ApiError):
        code = error.error_code
    else:
        code = _DEFAULT_CODES.get(error.status_code, "error")
    request_id = req.context.get("request_id", "")
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps(
        {"error": {"code": code, "message": _message(req, error), "request_id": request_id}}
    )
    log_fields = req.context.get("log_fields")
    if log_fields is not None:
        log_fields["error"] = code


def handle_unexpected(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
) -> None:
    """Falcon's handler for exceptions nothing else handled: log them, answer 500.

    The worker carries on serving: one failed request is not a reason to lose a process.
    """
    logger.exception("unhandled exception", extra={"request_id": req.context.get("request_id")})
    raise ApiError(500, "internal_error", "internal server error") from error


def from_validation_error(error: ValidationError) -> ApiError:
    """400 for a body that is not JSON; otherwise 422 naming each invalid field."""
    details = error.errors(include_url=False, include_context=False, include_input=False)
    if details[0]["type"] == "json_invalid":
        return ApiError(400, "malformed_json", details[0]["msg"])
    messages = [f"{location(item['loc'])}: {item['msg']}" for item in details]
    if len(messages) > _MAX_REPORTED_ERRORS:
        more = len(messages) - _MAX_REPORTED_ERRORS
        messages[_MAX_REPORTED_ERRORS:] = [f"and {more} more"]
    return ApiError(422, "invalid_request", "; ".join(messages))


def location(loc: tuple[int | str, ...]) -> str:
    """``('instances', 0, 'petal_length')`` -> ``instances[0].petal_length``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or "body"


def _message(req: falcon.Request, error: falcon.HTTPError) -> str:
    if error.description:
        return error.description
    if isinstance(error, falcon.HTTPMethodNotAllowed):
        allowed = dict(error.headers or {}).get("Allow", "")
        return f"{req.method} is not allowed on {req.path} (allowed: {allowed})"
    if isinstance(error, falcon.HTTPNotFound):
        return f"no resource at {req.path}"
    return error.title


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def reject_malformed(app: WsgiApp) -> WsgiApp:
    """Wrap ``app`` so that a request uWSGI could not parse gets a 400 in the one error shape.

    uWSGI hands the app a request whose request line was garbage with no REQUEST_METHOD
    or PATH_INFO; Falcon would fail on it with a KeyError, logged as plain text. This
    answers it, and logs one JSON line, before Falcon sees it.
    """

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if "REQUEST_METHOD" in environ and "PATH_INFO" in environ:
            return app(environ, start_response)
        request_id = os.urandom(16).hex()
        logger.warning(
            "malformed request",
            extra={"request_id": request_id, "status": 400, "error": "bad_request"},
        )
        body = orjson.dumps(
            {
                "error": {
                    "code": "bad_request",
                    "message": "malformed HTTP request line: expected `METHOD /path HTTP/1.1`",
                    "request_id": request_id,
                }
            }
        )
        start_response(
            "400 Bad Request",
            [
                ("Content-Type", falcon.MEDIA_JSON),
                ("Content-Length", str(len(body))),
                ("X-Request-ID", request_id),
            ],
        )
        return [body]

    return application
