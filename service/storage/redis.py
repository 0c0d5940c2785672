"""The alignment store in Redis, shared by every service replica."""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from service.storage.base import StoreUnavailable


class RedisStore:
    """Documents as Redis strings with a TTL, plus a sorted set of ids by write time.

    Keys: ``{prefix}doc:{id}`` per document and ``{prefix}ids`` for the index that bounds
    the count. Short socket timeouts and no retries, so a down Redis fails a request fast.
    """

    kind = "redis"

    def __init__(
        self,
        url: str,
        ttl_seconds: float,
        max_entries: int,
        prefix: str = "nmt:alignment:",
        timeout_seconds: float = 0.25,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.prefix = prefix
        self._index_key = f"{prefix}ids"
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),
        )

    def put(self, doc_id: str, document: dict[str, Any]) -> None:
        """Write the document and index it, then evict the oldest ids beyond the bound.

        The write and the index update are one transaction; eviction is a second one.
        Concurrent replicas may evict the same ids twice, which is harmless.
        """
        payload = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
        now = time.time()
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.set(self._doc_key(doc_id), payload, px=max(1, round(self.ttl_seconds * 1000)))
            pipe.zadd(self._index_key, {doc_id: now})
            pipe.zremrangebyscore(self._index_key, "-inf", now - self.ttl_seconds)
            pipe.zrange(self._index_key, 0, -self.max_entries - 1)
            evicted: list[bytes] = pipe.execute()[-1]
            if evicted:
                pipe = self._client.pipeline(transaction=True)
                pipe.delete(*(self._doc_key(old.decode()) for old in evicted))
                pipe.zrem(self._index_key, *evicted)
                pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis store failed: {exc}") from exc

    def get(self, doc_id: str) -> dict[str, Any] | None:
        try:
            payload = self._client.get(self._doc_key(doc_id))
        except (redis.RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis store failed: {exc}") from exc
        if payload is None:
            return None
        document: dict[str, Any] = orjson.loads(payload)
        return document

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except (redis.RedisError, OSError):
            return False

    def close(self) -> None:
        self._client.close()

    def _doc_key(self, doc_id: str) -> str:
        return f"{self.prefix}doc:{doc_id}"
