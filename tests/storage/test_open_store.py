"""The open_store factory picks the backend."""

from __future__ import annotations

from pathlib import Path

from service.storage import RedisStore, SQLiteStore, open_store


def test_sqlite_without_redis_url(tmp_path: Path) -> None:
    store = open_store(tmp_path / "a.db", redis_url=None, ttl_seconds=60, max_entries=10)
    assert isinstance(store, SQLiteStore)
    assert store.kind == "sqlite"
    store.close()


def test_redis_with_url(tmp_path: Path, redis_server: str) -> None:
    store = open_store(tmp_path / "a.db", redis_url=redis_server, ttl_seconds=60, max_entries=10)
    assert isinstance(store, RedisStore)
    assert store.ping() is True
    assert not (tmp_path / "a.db").exists()
    store.close()
