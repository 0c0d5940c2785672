"""Request ids, the request log line and the request metrics, as a plain ASGI middleware.

A plain ASGI middleware rather than ``@app.middleware("http")``: Starlette's
``BaseHTTPMiddleware`` runs the app in a separate task behind memory streams for every
request, which costs more than everything this one does.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.logs import request_id
from service.runtime_state import ServiceState

log = logging.getLogger("service.http")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ObserveMiddleware:
    """Gives every HTTP request an id (the client's ``X-Request-ID`` when well formed),
    echoes it in the response, logs the request once and counts it by route and status."""

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        rid = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        header = (b"x-request-id", rid.encode())
        status = 500  # what the server answers when the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        token = request_id.set(rid)
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - start)
            request_id.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method, path = scope["method"], scope["path"]
        route_path = getattr(scope.get("route"), "path", "unmatched")
        labels = (method, route_path, str(status))
        self.state.metrics.requests.labels(*labels).inc()
        self.state.metrics.latency.labels(*labels).observe(seconds)
        log.info(
            "%s %s %d",
            method,
            path,
            status,
            extra={
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
            },
        )
