"""SIGTERM with requests in flight: readiness and new requests 503 at once, in-flight work
finishes within the grace period or gets 503 + Retry-After, never a 500."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

import httpx

from tests.conftest import LiveServer

# One sentence (the service splits texts into sentences): its clauses end with semicolons.
LONG_TEXT = " ".join(["And God said, Let there be light: and there was light;"] * 8)


def _post(server: LiveServer, results: list[httpx.Response | Exception], texts: int) -> None:
    try:
        results.append(
            httpx.post(
                f"{server.url}/v1/translate",
                json={"text": [LONG_TEXT] * texts, "beam_size": 10},
                timeout=30,
            )
        )
    except httpx.HTTPError as error:
        results.append(error)


def test_sigterm_with_sixty_requests_in_flight_answers_no_500(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(
        args=["--timeout-graceful-shutdown", "1"],
        max_batch_size="1",
        max_batch_rows="320",  # one request (32 texts, beam 10) decodes at a time
        max_wait_ms="0",
        max_queue="2000",
        max_sentence_words="0",  # each text one sentence of the queue's 2,000
    )
    results: list[httpx.Response | Exception] = []
    # Two one-text requests first, which finish; then sixty 32-text ones, several times
    # the grace of work even where the tiny model stops early and the machine is fast.
    small = [threading.Thread(target=_post, args=(server, results, 1)) for _ in range(2)]
    large = [threading.Thread(target=_post, args=(server, results, 32)) for _ in range(60)]
    clients = small + large
    for client in small:
        client.start()
    time.sleep(0.1)
    for client in large:
        client.start()
    probe = httpx.Client(timeout=5)  # a kept-alive connection, open before the signal
    assert probe.get(f"{server.url}/health/live").status_code == 200
    time.sleep(0.5)  # all are answered, decoding or queued: one batch at a time
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    while (ready := probe.get(f"{server.url}/health/ready")).status_code == 200:
        assert time.monotonic() - signalled < 1, "readiness did not turn 503"
    late = probe.post(f"{server.url}/v1/translate", json={"text": "Amen."})
    probe.close()
    for client in clients:
        client.join(timeout=20)
    server.process.wait(timeout=20)
    exited_after = time.monotonic() - signalled

    assert ready.status_code == 503
    assert late.status_code == 503 and late.headers["retry-after"]
    assert late.json()["error"]["code"] == "shutting_down"
    responses = [r for r in results if isinstance(r, httpx.Response)]
    assert len(responses) == len(clients), [r for r in results if isinstance(r, Exception)]
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 503}, statuses
    assert 200 in statuses and 503 in statuses, statuses  # some finished, some ran out of time
    for response in responses:
        if response.status_code == 503:
            assert response.headers["retry-after"]
            assert response.json()["error"]["code"] == "shutting_down"
    assert server.process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    assert exited_after < 1 + 5  # grace, plus the writer's flush and start-up of the exit


def test_sigterm_when_idle_exits_at_once(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(args=["--timeout-graceful-shutdown", "30"])
    assert httpx.post(f"{server.url}/v1/translate", json={"text": "Amen."}, timeout=30).is_success
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=20)
    assert time.monotonic() - signalled < 5  # the 30 s grace is not waited out
    assert server.process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
