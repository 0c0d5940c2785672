"""The alignment store: documents kept by translation id (SQLite or Redis), written behind."""

from __future__ import annotations

from pathlib import Path

from service.storage.base import AlignmentStore, StoreUnavailable
from service.storage.breaker import BreakerState, CircuitBreaker
from service.storage.redis import RedisStore
from service.storage.sqlite import SQLiteStore
from service.storage.writer import DocumentWriter, StorageStatus, WriterOptions, WriterStats

__all__ = [
    "AlignmentStore",
    "BreakerState",
    "CircuitBreaker",
    "DocumentWriter",
    "RedisStore",
    "SQLiteStore",
    "StorageStatus",
    "StoreUnavailable",
    "WriterOptions",
    "WriterStats",
    "open_store",
]


def open_store(
    sqlite_path: Path,
    redis_url: str | None,
    ttl_seconds: float,
    max_entries: int,
    timeout_seconds: float = 0.25,
) -> AlignmentStore:
    """Redis when ``redis_url`` is given (replicas share it), else a local SQLite file."""
    if redis_url:
        return RedisStore(
            redis_url,
            ttl_seconds=ttl_seconds,
            max_entries=max_entries,
            timeout_seconds=timeout_seconds,
        )
    return SQLiteStore(sqlite_path, ttl_seconds=ttl_seconds, max_entries=max_entries)
