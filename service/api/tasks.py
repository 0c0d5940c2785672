"""Racing a request's work against an event that makes it pointless (the client left, the
drain deadline passed)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


async def work_finished_first(work: asyncio.Future[Any], event: Coroutine[Any, Any, Any]) -> bool:
    """Wait until ``work`` is done or ``event`` happens; True when the work is done. The
    event's task is always cleaned up; cancelling the caller cancels the work too."""
    watcher = asyncio.ensure_future(event)
    try:
        await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        work.cancel()
        raise
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return work.done()


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has unwound."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
