"""The write-behind DocumentWriter and its circuit breaker, over a real SQLite store."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from service.storage import (
    BreakerState,
    CircuitBreaker,
    DocumentWriter,
    SQLiteStore,
    StorageStatus,
    StoreUnavailable,
    WriterOptions,
)


def _documents(prefix: str, count: int) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{n:04d}", "text": f"text {n}"} for n in range(count)]


def test_breaker_opens_after_repeated_failures_probes_and_closes() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=3, reset_seconds=2.0, clock=lambda: now[0])
    breaker.record_failure("one")
    breaker.record_failure("two")
    assert breaker.state is BreakerState.closed
    breaker.record_failure("three")
    assert breaker.state is BreakerState.open and not breaker.allows_call()
    now[0] = 1.0
    assert breaker.seconds_until_probe() == 1.0
    now[0] = 2.0
    assert breaker.state is BreakerState.half_open and breaker.allows_call()
    breaker.record_failure("probe failed")  # one failed probe opens it again
    assert breaker.state is BreakerState.open and breaker.opened_count == 2
    now[0] = 4.5
    breaker.record_success()
    assert breaker.state is BreakerState.closed and breaker.last_error is None


def test_healthy_store_answers_stored_and_documents_are_in_the_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "a.sqlite3", ttl_seconds=60, max_entries=100)

    async def main() -> list[StorageStatus]:
        writer = DocumentWriter(store, WriterOptions(wait_seconds=2.0))
        writer.start()
        statuses = await writer.submit(_documents("a", 3))
        await writer.close(timeout=5)
        return statuses

    assert asyncio.run(main()) == [StorageStatus.stored] * 3
    check = SQLiteStore(tmp_path / "a.sqlite3", ttl_seconds=60, max_entries=100)
    assert check.get("a0002") == {"id": "a0002", "text": "text 2"}


def test_outage_keeps_documents_pending_and_fetchable_then_writes_them(tmp_path: Path) -> None:
    """The store's directory is a file (writes fail) until the test makes it a directory."""
    blocker = tmp_path / "db"
    blocker.write_text("not a directory")
    store = SQLiteStore(blocker / "a.sqlite3", ttl_seconds=60, max_entries=100)
    options = WriterOptions(capacity=5, failure_threshold=2, reset_seconds=1.0, wait_seconds=5.0)

    async def main() -> None:
        writer = DocumentWriter(store, options)
        writer.start()
        started = asyncio.get_running_loop().time()
        first = await writer.submit(_documents("x", 2))
        assert first == [StorageStatus.pending] * 2
        assert asyncio.get_running_loop().time() - started < 1.0  # a failed write ends the wait
        while writer.breaker.state is BreakerState.closed:
            await asyncio.sleep(0.01)
        # Open breaker: no waiting at all, and fetches answer from the buffer.
        started = asyncio.get_running_loop().time()
        more = await writer.submit(_documents("y", 4))  # wait_seconds=5 is not waited
        assert asyncio.get_running_loop().time() - started < 0.1
        assert more == [StorageStatus.pending] * 3 + [StorageStatus.dropped]
        assert await writer.get("x0001") == {"id": "x0001", "text": "text 1"}
        try:
            await writer.get("unknown00")
        except StoreUnavailable:
            pass
        else:
            raise AssertionError("an unbuffered id must not be answered while the store fails")
        stats = writer.stats()
        assert (stats.pending, stats.dropped, stats.breaker_opened) == (5, 1, 1)

        blocker.unlink()
        blocker.mkdir()  # the store comes back
        for _ in range(300):
            if writer.stats().pending == 0:
                break
            await asyncio.sleep(0.01)
        stats = writer.stats()
        assert (stats.pending, stats.stored, stats.breaker) == (0, 5, BreakerState.closed)
        await writer.close(timeout=5)

    asyncio.run(main())
    rows = sqlite3.connect(blocker / "a.sqlite3").execute("SELECT id FROM alignments").fetchall()
    assert sorted(r[0] for r in rows) == ["x0000", "x0001", "y0000", "y0001", "y0002"]


def test_close_writes_what_is_buffered(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.sqlite3", ttl_seconds=60, max_entries=1000)

    async def main() -> int:
        writer = DocumentWriter(store, WriterOptions(wait_seconds=0))
        writer.start()
        statuses = await writer.submit(_documents("c", 200))
        assert StorageStatus.pending in statuses  # nobody waited
        await writer.close(timeout=10)
        return writer.stats().lost

    assert asyncio.run(main()) == 0
    rows = sqlite3.connect(tmp_path / "c.sqlite3").execute("SELECT COUNT(*) FROM alignments")
    assert rows.fetchone()[0] == 200
