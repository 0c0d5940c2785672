"""Requests and texts per minute per client, counted in Redis (shared by replicas) or
in process; a slow or absent Redis falls back to counting in process."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from service.storage.breaker import CircuitBreaker

log = logging.getLogger(__name__)
WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Limit:
    requests: int  # per minute; 0 = no limit
    texts: int  # per minute; 0 = no limit

    @property
    def unlimited(self) -> bool:
        return self.requests == 0 and self.texts == 0


class RateLimited(Exception):
    """A client went over its limit; it may retry after ``retry_after`` seconds."""

    def __init__(self, limit: str, allowed: int, retry_after: int) -> None:
        super().__init__(
            f"rate limit of {allowed} {limit} per minute reached; retry in {retry_after} s"
        )
        self.limit, self.retry_after = limit, retry_after


class Counters(Protocol):
    async def add(self, client: str, window: int, requests: int, texts: int) -> tuple[int, int]:
        """Add to the client's counts in this window; the counts after adding."""
        ...

    async def close(self) -> None: ...


class LocalCounters:
    """Counts in this process: per replica."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], tuple[int, int]] = {}
        self._window = 0

    async def add(self, client: str, window: int, requests: int, texts: int) -> tuple[int, int]:
        if window != self._window:  # a new minute: forget the old ones
            self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
            self._window = window
        old_requests, old_texts = self._counts.get((client, window), (0, 0))
        counts = (old_requests + requests, old_texts + texts)
        self._counts[(client, window)] = counts
        return counts

    async def close(self) -> None:
        return None


class RedisCounters:
    """Counts in Redis (one hash per client and minute), so the limit holds across every
    replica; when Redis fails or is slower than ``timeout_seconds`` a circuit breaker
    sends the counting to ``fallback`` until Redis answers again."""

    def __init__(self, url: str, timeout_seconds: float, prefix: str = "nmt:ratelimit:") -> None:
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),
        )
        self._timeout = timeout_seconds
        self._prefix = prefix
        self.fallback = LocalCounters()
        self.breaker = CircuitBreaker(failure_threshold=3, reset_seconds=2.0)

    async def add(self, client: str, window: int, requests: int, texts: int) -> tuple[int, int]:
        if not self.breaker.allows_call():
            return await self.fallback.add(client, window, requests, texts)
        key = f"{self._prefix}{client}:{window}"
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, "requests", requests)
                pipe.hincrby(key, "texts", texts)
                pipe.expire(key, 2 * WINDOW_SECONDS)
                counted = await asyncio.wait_for(pipe.execute(), self._timeout)
        except (TimeoutError, aioredis.RedisError, OSError) as error:
            self.breaker.record_failure(f"{type(error).__name__}: {error}")
            log.warning("rate limits counted in process: Redis failed (%s)", error)
            return await self.fallback.add(client, window, requests, texts)
        self.breaker.record_success()
        return int(counted[0]), int(counted[1])

    async def close(self) -> None:
        await self._client.aclose()


class RateLimiter:
    """Fixed one-minute windows per client: an API key, or an address when keys are off."""

    def __init__(
        self,
        default: Limit,
        per_key: dict[str, Limit],
        counters: Counters,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.default = default
        self.per_key = per_key
        self.counters = counters
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return not self.default.unlimited or any(not v.unlimited for v in self.per_key.values())

    async def check(self, client: str, texts: int) -> None:
        """Count one request with ``texts`` texts; :class:`RateLimited` past a limit."""
        limit = self.per_key.get(client, self.default)
        if limit.unlimited:
            return
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        name = hashlib.sha256(client.encode()).hexdigest()[:24]  # keys never leave as such
        requests, counted_texts = await self.counters.add(name, window, 1, texts)
        retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
        if limit.requests and requests > limit.requests:
            raise RateLimited("requests", limit.requests, retry_after)
        if limit.texts and counted_texts > limit.texts:
            raise RateLimited("texts", limit.texts, retry_after)
