"""The HTTP server: uvicorn, with a drain on SIGTERM and a deadline for request headers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# After the drain, what uvicorn still gives open connections (answers being written).
_STOP_SECONDS = 2


def header_timeout_protocol(seconds: float) -> type[asyncio.Protocol]:
    """The httptools protocol, closing connections whose request headers take longer
    than ``seconds`` to arrive (uvicorn itself waits forever)."""

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._header_timer is None:
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(seconds, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.transport.is_closing():
                return
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n"
                    b"content-length: 0\r\n\r\n"
                )
                self.transport.close()

    return HeaderTimeoutProtocol


class DrainingServer(uvicorn.Server):
    """On the first SIGTERM or SIGINT the app drains first (``drain(grace)``: readiness
    503, new requests 503, in-flight ones finish or get 503 at the deadline) while the
    listener stays open; only then does uvicorn stop. A second signal stops at once."""

    def __init__(
        self,
        config: uvicorn.Config,
        drain: Callable[[float], Awaitable[None]],
        grace_seconds: float,
    ) -> None:
        super().__init__(config)
        self._drain = drain
        self._grace_seconds = grace_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining or self._loop is None:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        loop = self._loop
        loop.call_soon_threadsafe(lambda: loop.create_task(self._drain_then_exit(sig, frame)))

    async def _drain_then_exit(self, sig: int, frame: FrameType | None) -> None:
        try:
            await self._drain(self._grace_seconds)
        finally:
            uvicorn.Server.handle_exit(self, sig, frame)


def run(
    app: Any,
    drain: Callable[[float], Awaitable[None]],
    grace_seconds: float,
    header_timeout_seconds: float,
    **uvicorn_options: Any,
) -> None:
    """Serve ``app`` until a signal, then ``drain(grace_seconds)`` and stop."""
    config = uvicorn.Config(
        app,
        http=header_timeout_protocol(header_timeout_seconds),
        timeout_graceful_shutdown=_STOP_SECONDS,
        **uvicorn_options,
    )
    DrainingServer(config, drain, grace_seconds).run()
