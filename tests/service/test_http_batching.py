"""Concurrent requests share decoding batches; a full queue answers 503; SIGTERM drains."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import httpx

from tests.conftest import LiveServer

TEXTS = [f"And the {n}th day God saw that it was good." for n in range(16)]


def metric_samples(server: LiveServer) -> dict[str, float]:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


async def post_all(server: LiveServer, texts: list[str], **options: object) -> list[httpx.Response]:
    """One request per text, all sent at once."""
    limits = httpx.Limits(max_connections=len(texts))
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(client.post("/v1/translate", json={"text": t, **options}) for t in texts)
        )


def test_concurrent_requests_are_batched(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(max_wait_ms="500", max_batch_size="32")
    responses = asyncio.run(post_all(server, TEXTS, beam_size=1))
    assert [r.status_code for r in responses] == [200] * len(TEXTS)
    for text, response in zip(TEXTS, responses, strict=True):
        [translation] = response.json()["translations"]
        document = httpx.get(f"{server.url}/v1/translations/{translation['id']}", timeout=10)
        assert document.json()["source"] == text  # each request got its own text's answer
        assert document.json()["alignment"] == translation["alignment"]

    metrics = metric_samples(server)
    batches, texts = (
        metrics['nmt_batch_size_texts_count{model="en-es"}'],
        metrics['nmt_batch_size_texts_sum{model="en-es"}'],
    )
    assert texts == len(TEXTS)
    assert batches < len(TEXTS)
    assert (
        metrics['nmt_batch_size_texts_bucket{le="1.0",model="en-es"}'] < batches
    )  # a batch of 2 or more
    assert metrics['nmt_queue_depth_texts{model="en-es"}'] == 0


def test_full_queue_answers_503_with_retry_after(start_server: Callable[..., LiveServer]) -> None:
    """With room for 2 texts and a 1 s gathering wait, most of 12 simultaneous requests
    find the queue full."""
    server = start_server(max_queue="2", max_texts="2", max_wait_ms="1000")
    responses = asyncio.run(post_all(server, TEXTS[:12], beam_size=5))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, statuses
    assert 1 <= statuses.count(200) <= 2
    assert statuses.count(503) >= 10
    for response in responses:
        if response.status_code == 503:
            assert response.json()["error"]["code"] == "overloaded"
            assert response.json()["error"]["message"]
            assert int(response.headers["retry-after"]) >= 1

    after = httpx.post(f"{server.url}/v1/translate", json={"text": "Amen."}, timeout=30)
    assert after.status_code == 200
    metrics = metric_samples(server)
    route = 'method="POST",route="/v1/translate"'
    assert metrics[f'nmt_http_requests_total{{{route},status="503"}}'] == statuses.count(503)
    assert metrics['nmt_queue_depth_texts{model="en-es"}'] == 0


def test_requests_in_flight_finish_on_sigterm(start_server: Callable[..., LiveServer]) -> None:
    """SIGTERM arrives while a request waits in the batcher (1 s gathering wait): the
    request is still answered, then the server exits cleanly."""
    server = start_server(max_wait_ms="1000")
    result: dict[str, httpx.Response] = {}

    def send() -> None:
        result["response"] = httpx.post(
            f"{server.url}/v1/translate", json={"text": ["God is love.", "Amen."]}, timeout=60
        )

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 10
    while metric_samples(server)['nmt_queue_depth_texts{model="en-es"}'] < 2:
        assert time.monotonic() < deadline, "the request never reached the queue"
        time.sleep(0.02)
    assert server.stop() in (0, -15)  # uvicorn re-raises SIGTERM after a clean shutdown
    sender.join(timeout=30)
    response = result["response"]
    assert response.status_code == 200, response.text
    assert len(response.json()["translations"]) == 2
    log = server.log_path.read_text()
    assert "Application shutdown complete." in log
