"""Rate limits over HTTP: in one process, and across two replicas sharing Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx

from tests.conftest import LiveServer


def _fresh_minute() -> None:
    """Counts reset each minute: start well inside one."""
    if time.time() % 60 > 50:
        time.sleep(60 - time.time() % 60 + 0.1)


def _translate(server: LiveServer, texts: int = 1, key: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.post(
        f"{server.url}/v1/translate",
        json={"text": ["Amen."] * texts, "beam_size": 1},
        headers=headers,
        timeout=30,
    )


def _assert_429(response: httpx.Response, limit: str) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 60
    error = response.json()["error"]
    assert error["code"] == "rate_limited" and limit in error["message"]


def test_limits_hold_across_two_replicas_sharing_redis(
    start_server: Callable[..., LiveServer], redis_server: str
) -> None:
    # Keys of this test's own: the session's Redis is shared with other tests.
    key = uuid.uuid4().hex
    settings = {
        "redis_url": redis_server,
        "api_keys": key,
        "rate_limit_requests_per_minute": "5",
        "rate_limit_texts_per_minute": "100",
    }
    first, second = start_server(**settings), start_server(**settings)
    _fresh_minute()
    statuses = [_translate(server, key=key).status_code for server in [first, second] * 3]
    assert statuses == [200] * 5 + [429]
    _assert_429(_translate(first, key=key), "requests")
    metrics = httpx.get(f"{second.url}/metrics", timeout=10).text
    assert 'nmt_rate_limited_total{limit="requests"} 1.0' in metrics


def test_per_key_and_texts_limits_in_process(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(
        api_keys="alpha,beta",
        rate_limit_texts_per_minute="10",
        rate_limit_keys="beta=2/0",
    )
    _fresh_minute()
    assert _translate(server, texts=8, key="alpha").status_code == 200
    _assert_429(_translate(server, texts=3, key="alpha"), "texts")
    assert [_translate(server, texts=8, key="beta").status_code for _ in range(2)] == [200, 200]
    _assert_429(_translate(server, key="beta"), "requests")


def test_no_limits_unless_configured(shared_server: LiveServer) -> None:
    assert all(_translate(shared_server).status_code == 200 for _ in range(12))
