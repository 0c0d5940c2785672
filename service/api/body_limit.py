"""A bound on request bodies, with or without a Content-Length header."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import ApiError, error_response


class BodyLimitMiddleware:
    """Answers 413 for a declared length over the limit, and stops reading a chunked
    body once it passes the limit (the error then reaches the app's error handlers)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            status, code = (413, "body_too_large") if declared.isdigit() else (400, "bad_request")
            response = error_response(
                status,
                code,
                f"the body must be at most {self.max_bytes} bytes with a valid Content-Length",
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise ApiError(
                        413, "body_too_large", f"the body exceeds {self.max_bytes} bytes"
                    )
            return message

        await self.app(scope, limited_receive, send)
