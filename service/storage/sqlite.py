"""The alignment store in one SQLite file, for a single replica."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from service.storage.base import StoreUnavailable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alignments (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alignments_expires_at ON alignments (expires_at);
CREATE INDEX IF NOT EXISTS alignments_created_at ON alignments (created_at);
"""

_SWEEP_EVERY_PUTS = 100
_BUSY_TIMEOUT_MS = 5000


class SQLiteStore:
    """Documents in a WAL-mode SQLite file, bounded by age (``ttl_seconds``) and count.

    One connection, guarded by a lock, opened lazily: a bad path fails the first ``put``
    or ``get`` with :class:`StoreUnavailable` rather than the constructor.
    """

    kind = "sqlite"

    def __init__(self, path: Path, ttl_seconds: float, max_entries: int) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.path = path
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._puts = 0

    def put(self, doc_id: str, document: dict[str, Any]) -> None:
        payload = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
        now = time.time()
        with self._lock:
            try:
                conn = self._connect()
                with conn:
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute(
                        "INSERT OR REPLACE INTO alignments (id, created_at, expires_at, document)"
                        " VALUES (?, ?, ?, ?)",
                        (doc_id, now, now + self.ttl_seconds, payload),
                    )
                    self._puts += 1
                    if self._puts % _SWEEP_EVERY_PUTS == 0:
                        conn.execute("DELETE FROM alignments WHERE expires_at <= ?", (now,))
                    self._trim(conn)
            except (sqlite3.Error, OSError) as exc:
                raise StoreUnavailable(f"SQLite store at {self.path} failed: {exc}") from exc

    def get(self, doc_id: str) -> dict[str, Any] | None:
        with self._lock:
            try:
                row = (
                    self._connect()
                    .execute(
                        "SELECT document FROM alignments WHERE id = ? AND expires_at > ?",
                        (doc_id, time.time()),
                    )
                    .fetchone()
                )
            except (sqlite3.Error, OSError) as exc:
                raise StoreUnavailable(f"SQLite store at {self.path} failed: {exc}") from exc
        if row is None:
            return None
        document: dict[str, Any] = orjson.loads(row[0])
        return document

    def ping(self) -> bool:
        with self._lock:
            try:
                self._connect().execute("SELECT 1").fetchone()
            except (sqlite3.Error, OSError):
                return False
        return True

    def close(self) -> None:
        """Close the connection; a later call opens a new one."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _connect(self) -> sqlite3.Connection:
        """The open connection, opening it (and creating the file and schema) if needed."""
        if self._connection is not None:
            return self._connection
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            timeout=_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
            conn.execute("DELETE FROM alignments WHERE expires_at <= ?", (time.time(),))
        except sqlite3.Error:
            conn.close()
            raise
        self._connection = conn
        return conn

    def _trim(self, conn: sqlite3.Connection) -> None:
        """Delete the oldest rows beyond ``max_entries``."""
        # Rowids grow with every insert, so the newest max_entries rows are the ones within
        # max_entries of the largest rowid: an index lookup instead of counting every row.
        conn.execute(
            "DELETE FROM alignments WHERE rowid <= (SELECT MAX(rowid) FROM alignments) - ?",
            (self.max_entries,),
        )
