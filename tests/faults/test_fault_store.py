"""The alignment store failing under load: Redis frozen (SIGSTOP), Redis stopped and
restarted, and the service killed with SIGKILL. Translation keeps its speed, and every
document acknowledged as stored or pending is fetchable afterwards."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import httpx
import redis

from tests.conftest import LiveServer
from tests.faults.conftest import RedisProcess, run_load

CLIENTS = 8


def _metric(server: LiveServer, name: str) -> float:
    for line in httpx.get(f"{server.url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def _wait_until_written(server: LiveServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _metric(server, "nmt_store_pending_documents") > 0:
        assert time.monotonic() < deadline, "the buffer was not written in time"
        time.sleep(0.1)


def _assert_all_fetchable(server: LiveServer, ids: list[str]) -> None:
    """Every id answers 200; a 503 (the store busy catching up, as a loaded machine makes
    it) is retried after its Retry-After, as a client would, for up to 20 s in all."""
    deadline = time.monotonic() + 20
    with httpx.Client(timeout=10) as http:
        missing = []
        for i in ids:
            response = http.get(f"{server.url}/v1/translations/{i}")
            while response.status_code == 503 and time.monotonic() < deadline:
                time.sleep(float(response.headers.get("retry-after", "1")))
                response = http.get(f"{server.url}/v1/translations/{i}")
            if response.status_code != 200:
                missing.append((i, response.status_code))
    assert not missing, f"{len(missing)} of {len(ids)} documents are missing: {missing[:5]}"


def test_frozen_redis_does_not_slow_translation(
    start_server: Callable[..., LiveServer], own_redis: RedisProcess
) -> None:
    """Healthy, frozen, healthy again: the frozen phase is compared with the mean of the
    two healthy ones, as the machine's load drifts."""
    server = start_server(redis_url=own_redis.url, store_wait_ms="20")
    assert own_redis.process is not None
    run_load(server.url, CLIENTS, 0.5)  # warm
    before = run_load(server.url, CLIENTS, 2.0)
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        frozen = run_load(server.url, CLIENTS, 2.0)
        ready = httpx.get(f"{server.url}/health/ready", timeout=5).json()
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    _wait_until_written(server, timeout=15)
    after = run_load(server.url, CLIENTS, 2.0)
    healthy_throughput = (before.throughput + after.throughput) / 2
    healthy_p50 = (before.p50 + after.p50) / 2
    print(
        f"healthy {before.throughput:.1f} and {after.throughput:.1f}/s, p50 "
        f"{before.p50 * 1000:.1f} and {after.p50 * 1000:.1f} ms; "
        f"frozen {frozen.throughput:.1f}/s p50 {frozen.p50 * 1000:.1f} ms"
    )
    for phase in (before, frozen, after):
        assert not phase.errors and set(phase.statuses) == {200}
    assert frozen.throughput >= 0.8 * healthy_throughput
    assert frozen.p50 <= 2 * healthy_p50
    assert ready["store"] == "unavailable" and ready["store_details"]["breaker"] != "closed"
    outcomes = list(frozen.storage.values())
    assert "dropped" not in outcomes and outcomes.count("pending") > len(outcomes) / 2
    _assert_all_fetchable(server, [i for i, s in frozen.storage.items() if s == "pending"])


def test_redis_stopped_mid_load_loses_nothing_that_fit_the_buffer(
    start_server: Callable[..., LiveServer], own_redis: RedisProcess
) -> None:
    server = start_server(redis_url=own_redis.url, store_wait_ms="20")
    results = []
    load = threading.Thread(target=lambda: results.append(run_load(server.url, CLIENTS, 4.0)))
    load.start()
    time.sleep(0.5)
    own_redis.stop()
    time.sleep(2.0)  # the outage
    own_redis.start()
    load.join()
    [result] = results
    assert not result.errors and set(result.statuses) == {200}
    outcomes = list(result.storage.values())
    assert "dropped" not in outcomes and "pending" in outcomes
    _wait_until_written(server, timeout=15)
    _assert_all_fetchable(server, list(result.storage))
    # They are in Redis itself, not only in this replica's memory.
    keys = redis.Redis.from_url(own_redis.url).keys("nmt:alignment:doc:*")
    assert {key.decode().rsplit(":", 1)[1] for key in keys} >= set(result.storage)


def test_sigkill_under_load_keeps_every_stored_document(
    start_server: Callable[..., LiveServer], tmp_path: object
) -> None:
    server = start_server()
    results = []
    load = threading.Thread(target=lambda: results.append(run_load(server.url, CLIENTS, 2.5)))
    load.start()
    time.sleep(2.0)
    server.process.send_signal(signal.SIGKILL)
    load.join()
    server.process.wait(timeout=10)
    [result] = results
    stored = [i for i, s in result.storage.items() if s == "stored"]
    print(f"{len(stored)} of {len(result.storage)} acknowledged as stored before SIGKILL")
    assert len(stored) >= 10
    restarted = start_server(port=server.port)
    _assert_all_fetchable(restarted, stored)
