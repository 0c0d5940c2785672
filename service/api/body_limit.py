"""A bound on request bodies, with or without a Content-Length header, and on the time
a client may take to send one."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import ApiError, error_response

_CLOSE = {"Connection": "close"}


class BodyLimitMiddleware:
    """Answers 413 for a body over ``max_bytes`` and 408 for one that takes longer than
    ``timeout_seconds`` between chunks.

    Before a 413 the rest of the body (up to ``discard_bytes``) is read and thrown away:
    closing a connection with unread data makes the kernel send a reset, and a client
    still writing would see that instead of the answer.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, timeout_seconds: float, discard_bytes: int
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self.discard_bytes = discard_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            if declared.isdigit():
                status, code = 413, "body_too_large"
                if int(declared) <= self.discard_bytes:
                    await self._discard(receive, 0)
            else:
                status, code = 400, "bad_request"
            response = error_response(
                status,
                code,
                f"the body must be at most {self.max_bytes} bytes with a valid Content-Length",
                _CLOSE,
            )
            await response(scope, receive, send)
            return
        received = 0
        complete = scope.get("method") in ("GET", "HEAD") and declared is None

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:  # after the body only a disconnect comes: no deadline for it
                return await receive()
            message = await self._receive_in_time(receive)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > self.max_bytes:
                    if not complete:
                        await self._discard(receive, received)
                    raise ApiError(
                        413, "body_too_large", f"the body exceeds {self.max_bytes} bytes", _CLOSE
                    )
            return message

        await self.app(scope, limited_receive, send)

    async def _receive_in_time(self, receive: Receive) -> Message:
        try:
            return await asyncio.wait_for(receive(), self.timeout_seconds)
        except TimeoutError as error:
            raise ApiError(
                408,
                "body_timeout",
                f"the body did not arrive within {self.timeout_seconds} s",
                _CLOSE,
            ) from error

    async def _discard(self, receive: Receive, received: int) -> None:
        """Read and drop the body until it ends, ``discard_bytes`` pass, or it stalls."""
        while received <= self.discard_bytes:
            try:
                message = await self._receive_in_time(receive)
            except ApiError:
                return
            if message["type"] != "http.request":
                return
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return
