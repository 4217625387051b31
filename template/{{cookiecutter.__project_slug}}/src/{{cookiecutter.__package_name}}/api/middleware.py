"""Request logging: one JSON line per request, health probes excepted."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import falcon

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_MAX_REQUEST_ID_LENGTH = 128


class RequestLogger:
    """Times each request, tags it with a request id and logs it once it is answered.

    Resources add their own fields (model, instances, predictions) to
    ``req.context.log_fields``; the error serializer adds the error code.
    """

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()
        request_id = req.get_header(REQUEST_ID_HEADER)
        if not request_id or len(request_id) > _MAX_REQUEST_ID_LENGTH:
            request_id = uuid.uuid4().hex
        req.context.request_id = request_id
        req.context.log_fields = {}

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        resp.set_header(REQUEST_ID_HEADER, req.context.request_id)
        if req.path.startswith("/health/"):
            return
        latency_ms = (time.perf_counter() - req.context.started) * 1000
        logger.info(
            "request",
            extra={
                "request_id": req.context.request_id,
                "method": req.method,
                "path": req.path,
                "status": resp.status_code,
                "latency_ms": round(latency_ms, 3),
                **req.context.log_fields,
            },
        )
