"""Dynamic batching: concurrent requests are coalesced into shared decoding batches.

Texts (or pairs to align) wait in a bounded queue for at most ``max_wait_ms`` or until
``max_batch_size`` items with the same options are waiting; one worker runs each batch in a
thread, so the event loop never blocks on inference.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")  # a text to translate, or a (source, target) pair to align
Result = TypeVar("Result")


class Overloaded(RuntimeError):
    """The queue is full; the client should retry later."""


class ShuttingDown(RuntimeError):
    """The batcher no longer accepts work."""


@dataclass(frozen=True)
class BatchingOptions:
    max_batch_size: int = 32  # texts per decoding batch
    max_wait_ms: float = 5.0  # how long the first text of a batch waits for company
    max_queue: int = 256  # texts waiting or running; beyond it requests are refused


@dataclass(eq=False)
class _Job(Generic[Item, Result]):
    texts: list[Item]
    options: Hashable  # jobs with equal options share a batch
    future: asyncio.Future[list[Result]]
    enqueued: float = field(default_factory=time.perf_counter)


BatchObserver = Callable[[int, float], None]  # (batch size in texts, seconds)


class Batcher(Generic[Item, Result]):
    def __init__(
        self,
        run_batch: Callable[[list[Item], Hashable], list[Result]],
        options: BatchingOptions,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self._run_batch = run_batch
        self.options = options
        self._on_batch = on_batch
        self._pending: list[_Job[Item, Result]] = []
        self._wakeup = asyncio.Event()
        self._queued_texts = 0
        self._closing = False
        self._worker: asyncio.Task[None] | None = None

    @property
    def queue_depth(self) -> int:
        """Texts accepted and not yet answered."""
        return self._queued_texts

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._work(), name="batcher")

    async def submit(self, texts: list[Item], options: Hashable) -> list[Result]:
        """The results of ``texts``; cancelling the caller takes them out of the queue
        (a batch already running finishes, its results unused)."""
        if self._closing:
            raise ShuttingDown("the service is shutting down")
        if self._queued_texts + len(texts) > self.options.max_queue:
            raise Overloaded(
                f"{self._queued_texts} texts are queued (limit {self.options.max_queue})"
            )
        job: _Job[Item, Result] = _Job(texts, options, asyncio.get_running_loop().create_future())
        self._queued_texts += len(texts)
        self._pending.append(job)
        self._wakeup.set()
        try:
            return await job.future
        finally:
            self._queued_texts -= len(texts)
            if job in self._pending:  # cancelled while queued: it will not be decoded
                self._pending.remove(job)

    async def close(self) -> None:
        """Stop accepting work, finish what is queued, then stop the worker."""
        self._closing = True
        self._wakeup.set()
        if self._worker is not None:
            await self._worker

    def _take_batch(self) -> list[_Job[Item, Result]]:
        """The oldest job plus later jobs with the same options, up to the batch size."""
        first = self._pending[0]
        batch: list[_Job[Item, Result]] = []
        size = 0
        for job in list(self._pending):
            if job.options != first.options:
                continue
            if batch and size + len(job.texts) > self.options.max_batch_size:
                break
            batch.append(job)
            size += len(job.texts)
        for job in batch:
            self._pending.remove(job)
        return batch

    def _ready_size(self, options: Hashable) -> int:
        return sum(len(job.texts) for job in self._pending if job.options == options)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            first = self._pending[0]
            deadline = first.enqueued + self.options.max_wait_ms / 1000
            while (
                not self._closing
                and self._ready_size(first.options) < self.options.max_batch_size
                and (remaining := deadline - time.perf_counter()) > 0
            ):
                self._wakeup.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
            if not self._pending:  # every waiting job was cancelled
                continue
            batch = self._take_batch()
            texts = [text for job in batch for text in job.texts]
            start = time.perf_counter()
            try:
                results = await loop.run_in_executor(None, self._run_batch, texts, batch[0].options)
            except Exception as error:
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(error)
                continue
            if self._on_batch is not None:
                self._on_batch(len(texts), time.perf_counter() - start)
            offset = 0
            for job in batch:
                if not job.future.done():
                    job.future.set_result(results[offset : offset + len(job.texts)])
                offset += len(job.texts)
