"""Rate limits: fixed minute windows per client, counted in process (unit tests)."""

from __future__ import annotations

import asyncio

import pytest

from service.rate_limits import Limit, LocalCounters, RateLimited, RateLimiter


def _limiter(now: list[float], per_key: dict[str, Limit] | None = None) -> RateLimiter:
    return RateLimiter(Limit(3, 10), per_key or {}, LocalCounters(), clock=lambda: now[0])


def test_requests_past_the_limit_are_refused_until_the_next_minute() -> None:
    now = [600.0 + 45.2]

    async def main() -> None:
        limiter = _limiter(now)
        for _ in range(3):
            await limiter.check("203.0.113.9", texts=1)
        with pytest.raises(RateLimited) as refused:
            await limiter.check("203.0.113.9", texts=1)
        assert (refused.value.limit, refused.value.retry_after) == ("requests", 15)
        await limiter.check("198.51.100.1", texts=1)  # another client has its own count
        now[0] = 660.0  # the next minute
        await limiter.check("203.0.113.9", texts=1)

    asyncio.run(main())


def test_texts_are_limited_too_and_per_key_limits_override() -> None:
    now = [0.0]

    async def main() -> None:
        limiter = _limiter(now, {"gold": Limit(0, 0), "small": Limit(0, 4)})
        await limiter.check("anyone", texts=8)
        with pytest.raises(RateLimited) as refused:
            await limiter.check("anyone", texts=3)
        assert refused.value.limit == "texts"
        for _ in range(20):
            await limiter.check("gold", texts=32)  # no limit for this key
        await limiter.check("small", texts=4)
        with pytest.raises(RateLimited):
            await limiter.check("small", texts=1)

    asyncio.run(main())


def test_a_limiter_without_limits_is_disabled() -> None:
    assert not RateLimiter(Limit(0, 0), {}, LocalCounters()).enabled
    assert RateLimiter(Limit(0, 0), {"k": Limit(1, 0)}, LocalCounters()).enabled
