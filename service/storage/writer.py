"""Write-behind for alignment documents: requests hand documents over and never wait on
the store beyond a short bound.

Documents go into a bounded in-memory buffer; one background task writes them to the
:class:`AlignmentStore` in a thread of its own, behind a :class:`CircuitBreaker`. While
the store is away the documents wait in the buffer (fetchable from it) and are written
when it returns; past the buffer's capacity new documents are dropped and said to be.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from service.storage.base import AlignmentStore, StoreUnavailable
from service.storage.breaker import BreakerState, CircuitBreaker

log = logging.getLogger(__name__)


class StorageStatus(StrEnum):
    stored = "stored"  # written to the store before the answer
    pending = "pending"  # in the buffer: fetchable now, written when the store answers
    dropped = "dropped"  # the buffer was full: the id will not resolve


@dataclass(frozen=True)
class WriterOptions:
    capacity: int = 4096  # documents waiting to be written; past it new ones are dropped
    wait_seconds: float = 0.02  # a request waits this long for its writes, only when closed
    write_timeout_seconds: float = 1.0  # one flush batch taking longer trips the breaker
    read_timeout_seconds: float = 0.5  # a read taking longer answers 503
    flush_batch: int = 8  # documents per write batch (the write timeout is per batch)
    failure_threshold: int = 3  # consecutive failures that open the breaker
    reset_seconds: float = 2.0  # how long the breaker stays open before a probe
    retry_seconds: float = 0.05  # pause after a failed write while the breaker is closed
    read_threads: int = 4


@dataclass
class _Pending:
    document: dict[str, Any]
    written: asyncio.Future[None]


@dataclass(frozen=True)
class WriterStats:
    pending: int
    capacity: int
    stored: int
    dropped: int
    lost: int  # left in the buffer at shutdown
    write_failures: int
    breaker: BreakerState
    breaker_opened: int
    last_error: str | None


class DocumentWriter:
    """Stores documents off the request path; reads see the buffer first, then the store."""

    def __init__(self, store: AlignmentStore, options: WriterOptions | None = None) -> None:
        self.store = store
        self.options = options or WriterOptions()
        self.breaker = CircuitBreaker(self.options.failure_threshold, self.options.reset_seconds)
        self._buffer: OrderedDict[str, _Pending] = OrderedDict()
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="store-write")
        self._read_threads = ThreadPoolExecutor(
            self.options.read_threads, thread_name_prefix="store-read"
        )
        self._wakeup = asyncio.Event()
        self._closing = asyncio.Event()
        self._write_failed = asyncio.Event()  # set and cleared at once: wakes waiters
        self._task: asyncio.Task[None] | None = None
        self._stored = self._dropped = self._lost = self._write_failures = 0

    @property
    def kind(self) -> str:
        return self.store.kind

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._flush_forever(), name="writer")

    def stats(self) -> WriterStats:
        return WriterStats(
            pending=len(self._buffer),
            capacity=self.options.capacity,
            stored=self._stored,
            dropped=self._dropped,
            lost=self._lost,
            write_failures=self._write_failures,
            breaker=self.breaker.state,
            breaker_opened=self.breaker.opened_count,
            last_error=self.breaker.last_error,
        )

    async def submit(self, documents: list[dict[str, Any]]) -> list[StorageStatus]:
        """Buffer each document (by its ``"id"``); what became of each, in order.

        Waits at most ``wait_seconds`` for the writes, and only while the breaker is
        closed, so a slow or absent store never holds a request longer than that.
        """
        loop = asyncio.get_running_loop()
        entries: list[_Pending | None] = []
        for document in documents:
            if len(self._buffer) >= self.options.capacity:
                self._dropped += 1
                entries.append(None)
                continue
            entry = _Pending(document, loop.create_future())
            self._buffer[document["id"]] = entry
            entries.append(entry)
        waiting = [entry.written for entry in entries if entry is not None]
        if waiting:
            self._wakeup.set()
            if self.breaker.closed and self.options.wait_seconds > 0:
                await self._wait_written(waiting)
        return [
            StorageStatus.dropped
            if entry is None
            else StorageStatus.stored
            if entry.written.done()
            else StorageStatus.pending
            for entry in entries
        ]

    async def _wait_written(self, waiting: list[asyncio.Future[None]]) -> None:
        """Until all are written, a write fails, or ``wait_seconds`` pass."""
        written = asyncio.ensure_future(asyncio.wait(waiting))
        failed = asyncio.ensure_future(self._write_failed.wait())
        await asyncio.wait(
            {written, failed},
            timeout=self.options.wait_seconds,
            return_when=asyncio.FIRST_COMPLETED,
        )
        written.cancel()  # asyncio.wait leaves the futures it watched alone
        failed.cancel()

    async def get(self, doc_id: str) -> dict[str, Any] | None:
        """The document from the buffer or the store; :class:`StoreUnavailable` when the
        store is failing (open breaker) or does not answer within ``read_timeout_seconds``."""
        entry = self._buffer.get(doc_id)
        if entry is not None:
            return entry.document
        if not self.breaker.allows_call():
            raise StoreUnavailable(f"the store is failing ({self.breaker.last_error})")
        read = asyncio.get_running_loop().run_in_executor(
            self._read_threads, self.store.get, doc_id
        )
        try:
            document = await asyncio.wait_for(read, self.options.read_timeout_seconds)
        except TimeoutError as error:
            self.breaker.record_failure("read timed out")
            raise StoreUnavailable(
                f"the store did not answer in {self.options.read_timeout_seconds} s"
            ) from error
        except StoreUnavailable as error:
            self.breaker.record_failure(str(error))
            raise
        self.breaker.record_success()
        return document

    async def close(self, timeout: float) -> None:
        """Write what is buffered (for at most ``timeout`` seconds), then close the store."""
        self._closing.set()
        self._wakeup.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        self._lost = len(self._buffer)
        if self._lost:
            log.error("%d alignment documents were not written before shutdown", self._lost)
        self._write_thread.shutdown(wait=False, cancel_futures=True)
        self._read_threads.shutdown(wait=False, cancel_futures=True)
        self.store.close()

    async def _flush_forever(self) -> None:
        while True:
            if self._closing.is_set() and (not self._buffer or not self.breaker.allows_call()):
                return
            if not self.breaker.allows_call():
                await self._sleep(self.breaker.seconds_until_probe())
                continue
            if not self._buffer:
                if self.breaker.state is BreakerState.half_open:
                    await self._probe()
                    continue
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            size = 1 if self.breaker.state is BreakerState.half_open else self.options.flush_batch
            await self._write(list(itertools.islice(self._buffer.items(), size)))

    async def _write(self, batch: list[tuple[str, _Pending]]) -> None:
        """Write one batch in the writer thread; the breaker learns how it went."""
        documents = [(doc_id, entry.document) for doc_id, entry in batch]
        job = asyncio.get_running_loop().run_in_executor(
            self._write_thread, _write_all, self.store, documents
        )
        try:
            written, error = await asyncio.wait_for(
                asyncio.shield(job), self.options.write_timeout_seconds
            )
        except TimeoutError:
            self.breaker.trip(f"a write took over {self.options.write_timeout_seconds} s")
            written, error = await job  # one write at a time: let the stuck one end
        for doc_id, entry in batch[:written]:
            self._buffer.pop(doc_id, None)
            if not entry.written.done():
                entry.written.set_result(None)
        self._stored += written
        if error is None:
            self.breaker.record_success()
            return
        self._write_failures += 1
        self.breaker.record_failure(error)
        self._write_failed.set()
        self._write_failed.clear()
        log.warning("alignment store write failed (%s); %d pending", error, len(self._buffer))
        if self.breaker.closed:
            await self._sleep(self.options.retry_seconds)

    async def _probe(self) -> None:
        """With nothing to write, a ping decides whether a half-open breaker closes."""
        ping = asyncio.get_running_loop().run_in_executor(self._write_thread, self.store.ping)
        try:
            answered = await asyncio.wait_for(
                asyncio.shield(ping), self.options.write_timeout_seconds
            )
        except TimeoutError:
            answered = False
            await ping
        if answered:
            self.breaker.record_success()
        else:
            self.breaker.record_failure("the store does not answer")

    async def _sleep(self, seconds: float) -> None:
        """Sleep, unless shutdown begins."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), max(seconds, 0.001))


def _write_all(
    store: AlignmentStore, documents: list[tuple[str, dict[str, Any]]]
) -> tuple[int, str | None]:
    """Write in order until one fails: (documents written, the error or None)."""
    for written, (doc_id, document) in enumerate(documents):
        try:
            store.put(doc_id, document)
        except StoreUnavailable as error:
            return written, str(error)
        except Exception as error:  # a store bug must not kill the writer task
            return written, f"{type(error).__name__}: {error}"
    return len(documents), None
