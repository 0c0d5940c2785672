"""RedisStore against a real redis-server (the session's ``redis_server`` fixture)."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from service.storage import RedisStore, StoreUnavailable


@pytest.fixture
def prefix() -> str:
    """A key prefix of its own, so tests sharing the session's server never collide."""
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture
def store(redis_server: str, prefix: str) -> Iterator[RedisStore]:
    store = RedisStore(redis_server, ttl_seconds=60, max_entries=100, prefix=prefix)
    yield store
    store.close()


def test_round_trip(store: RedisStore, document: dict[str, Any]) -> None:
    store.put("a", document)
    assert store.get("a") == document
    assert store.kind == "redis"
    assert store.ping() is True


def test_unknown_id_is_none(store: RedisStore) -> None:
    assert store.get("missing") is None


def test_expired_document_is_none(redis_server: str, prefix: str) -> None:
    store = RedisStore(redis_server, ttl_seconds=0.5, max_entries=100, prefix=prefix)
    store.put("a", {"v": 1})
    assert store.get("a") == {"v": 1}
    time.sleep(1.0)
    assert store.get("a") is None
    store.close()


def test_max_entries_evicts_oldest(redis_server: str, prefix: str) -> None:
    store = RedisStore(redis_server, ttl_seconds=60, max_entries=5, prefix=prefix)
    for i in range(10):
        store.put(f"doc-{i}", {"i": i})
    assert [store.get(f"doc-{i}") for i in range(5)] == [None] * 5
    assert [store.get(f"doc-{i}") for i in range(5, 10)] == [{"i": i} for i in range(5, 10)]
    store.close()


def test_two_instances_share_documents(redis_server: str, prefix: str) -> None:
    first = RedisStore(redis_server, ttl_seconds=60, max_entries=100, prefix=prefix)
    second = RedisStore(redis_server, ttl_seconds=60, max_entries=100, prefix=prefix)
    first.put("from-first", {"by": 1})
    second.put("from-second", {"by": 2})
    assert second.get("from-first") == {"by": 1}
    assert first.get("from-second") == {"by": 2}
    first.close()
    second.close()


def test_concurrent_puts_all_land(store: RedisStore) -> None:
    ids = [f"t{t}-{i}" for t in range(8) for i in range(10)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda doc_id: store.put(doc_id, {"id": doc_id}), ids))
    assert all(store.get(doc_id) == {"id": doc_id} for doc_id in ids)


def test_down_redis_fails_fast() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = RedisStore(f"redis://127.0.0.1:{port}/0", ttl_seconds=60, max_entries=100)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.put("a", {"v": 1})
    with pytest.raises(StoreUnavailable):
        store.get("a")
    assert store.ping() is False
    assert time.monotonic() - started < 3.0
    store.close()
