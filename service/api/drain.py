"""Shutdown as load balancers understand it: 503 + Retry-After, never a 500."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response
from service.api.tasks import cancel_and_wait, work_finished_first
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
            if await work_finished_first(work, self.state.drain_deadline.wait()) or started:
                await work
                return
            await cancel_and_wait(work)
            await self._refuse(scope, receive, send, "the service shut down before the answer")
        finally:
            self.state.in_flight -= 1

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, message: str) -> None:
        response = error_response(503, "shutting_down", message, self.headers)
        await response(scope, receive, send)
