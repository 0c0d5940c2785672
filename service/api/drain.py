"""Shutdown as load balancers understand it: 503 + Retry-After, never a 500."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response
from service.runtime_state import ServiceState

_UNGUARDED = ("/health/", "/metrics")


class DrainMiddleware:
    """Once the service drains, new requests get 503 ``shutting_down``; requests still
    running when the grace period ends are cancelled (their queued texts leave the
    scheduler) and answered 503 too, unless their answer has started."""

    def __init__(self, app: ASGIApp, state: ServiceState, retry_after_seconds: int) -> None:
        self.app = app
        self.state = state
        self.headers = {"Retry-After": str(retry_after_seconds), "Connection": "close"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_UNGUARDED):
            await self.app(scope, receive, send)
            return
        if self.state.draining:
            await self._refuse(scope, receive, send, "the service is shutting down")
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        self.state.in_flight += 1
        try:
            work = asyncio.ensure_future(self.app(scope, receive, tracking_send))
            deadline = asyncio.ensure_future(self.state.drain_deadline.wait())
            try:
                await asyncio.wait({work, deadline}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                work.cancel()
                raise
            finally:
                deadline.cancel()
            if work.done() or started:
                await work
                return
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            await self._refuse(scope, receive, send, "the service shut down before the answer")
        finally:
            self.state.in_flight -= 1

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, message: str) -> None:
        response = error_response(503, "shutting_down", message, self.headers)
        await response(scope, receive, send)
