"""SQLiteStore against a real SQLite file."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from service.storage import SQLiteStore, StoreUnavailable


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "alignments.db"


def test_round_trip_creates_parent_directory(db_path: Path, document: dict[str, Any]) -> None:
    store = SQLiteStore(db_path, ttl_seconds=60, max_entries=100)
    store.put("a", document)
    assert store.get("a") == document
    assert db_path.is_file()
    assert store.kind == "sqlite"
    store.close()


def test_put_replaces_existing_id(db_path: Path) -> None:
    store = SQLiteStore(db_path, ttl_seconds=60, max_entries=100)
    store.put("a", {"v": 1})
    store.put("a", {"v": 2})
    assert store.get("a") == {"v": 2}
    store.close()


def test_unknown_id_is_none(db_path: Path) -> None:
    store = SQLiteStore(db_path, ttl_seconds=60, max_entries=100)
    assert store.get("missing") is None
    store.close()


def test_expired_document_is_none(db_path: Path) -> None:
    store = SQLiteStore(db_path, ttl_seconds=0.5, max_entries=100)
    store.put("a", {"v": 1})
    assert store.get("a") == {"v": 1}
    time.sleep(1.0)
    assert store.get("a") is None
    store.close()


def test_max_entries_evicts_oldest(db_path: Path) -> None:
    store = SQLiteStore(db_path, ttl_seconds=60, max_entries=5)
    for i in range(10):
        store.put(f"doc-{i}", {"i": i})
    assert [store.get(f"doc-{i}") for i in range(5)] == [None] * 5
    assert [store.get(f"doc-{i}") for i in range(5, 10)] == [{"i": i} for i in range(5, 10)]
    store.close()


def test_survives_reopening_same_file(db_path: Path, document: dict[str, Any]) -> None:
    first = SQLiteStore(db_path, ttl_seconds=60, max_entries=100)
    first.put("a", document)
    first.close()
    second = SQLiteStore(db_path, ttl_seconds=60, max_entries=100)
    assert second.get("a") == document
    second.close()


def test_journal_mode_is_wal(db_path: Path) -> None:
    store = SQLiteStore(db_path, ttl_seconds=60, max_entries=100)
    assert store.ping()
    with sqlite3.connect(db_path) as conn:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"
    store.close()


def test_concurrent_puts_all_land(db_path: Path) -> None:
    store = SQLiteStore(db_path, ttl_seconds=60, max_entries=10_000)
    ids = [f"t{t}-{i}" for t in range(8) for i in range(50)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda doc_id: store.put(doc_id, {"id": doc_id}), ids))
    assert all(store.get(doc_id) == {"id": doc_id} for doc_id in ids)
    store.close()


def test_unwritable_path_raises_store_unavailable(tmp_path: Path) -> None:
    regular_file = tmp_path / "not-a-dir"
    regular_file.write_text("")
    store = SQLiteStore(regular_file / "alignments.db", ttl_seconds=60, max_entries=100)
    with pytest.raises(StoreUnavailable):
        store.put("a", {"v": 1})
    with pytest.raises(StoreUnavailable):
        store.get("a")
    assert store.ping() is False
    store.close()


@pytest.mark.parametrize(("ttl", "bound"), [(0, 10), (-1.0, 10), (60, 0)])
def test_refuses_bad_bounds(db_path: Path, ttl: float, bound: int) -> None:
    with pytest.raises(ValueError):
        SQLiteStore(db_path, ttl_seconds=ttl, max_entries=bound)
