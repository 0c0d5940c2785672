"""Work done for a client is abandoned when the client leaves."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from fastapi import Request

from service.api.tasks import cancel_and_wait, work_finished_first

T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client closed the connection before its answer was ready."""


async def _disconnected(request: Request) -> None:
    """Returns when the client disconnects (the body has already been read)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """Await ``work``; if the client disconnects first, cancel it (a queued translation
    then leaves the scheduler's queue) and raise :class:`ClientDisconnected`."""
    task = asyncio.ensure_future(work)
    if await work_finished_first(task, _disconnected(request)):
        return task.result()
    await cancel_and_wait(task)
    raise ClientDisconnected("the client closed the connection")
