"""Clients that misbehave: a 1 MB body, a stalled body or stalled headers, and clients
that leave while their request is queued."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from tests.conftest import LiveServer

# One sentence (the service splits texts into sentences): its clauses end with semicolons.
LONG_TEXT = " ".join(["And God said, Let there be light: and there was light;"] * 6)


def _connect(server: LiveServer) -> socket.socket:
    url = urlsplit(server.url)
    assert url.hostname is not None and url.port is not None
    return socket.create_connection((url.hostname, url.port), timeout=10)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one HTTP/1.1 response with a Content-Length."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before the answer: {received[:200]!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(status_line.split()[1]), headers, body


def test_one_megabyte_bodies_get_their_413(shared_server: LiveServer) -> None:
    """The client writes the whole body as the server answers: it must read the 413,
    not a reset (the server reads and discards the body before answering)."""
    payload = b'{"text": "' + b"a" * 1_000_000 + b'"}'
    for _ in range(10):
        with _connect(shared_server) as sock:
            sock.sendall(
                b"POST /v1/translate HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
            )
            status, headers, body = _read_response(sock)
        assert status == 413
        assert json.loads(body)["error"]["code"] == "body_too_large"
        assert headers["connection"] == "close"


def test_one_megabyte_body_through_a_client_library(shared_server: LiveServer) -> None:
    payload = b'{"text": "' + b"a" * 1_000_000 + b'"}'
    for _ in range(5):
        response = httpx.post(
            f"{shared_server.url}/v1/translate",
            content=payload,
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "body_too_large"


def test_stalled_body_gets_408_and_stalled_headers_are_closed(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(body_timeout_seconds="1", header_timeout_seconds="1")
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /v1/translate HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"text":'
        )
        status, headers, body = _read_response(sock)
        assert (status, json.loads(body)["error"]["code"]) == (408, "body_timeout")
        assert headers["connection"] == "close"
        assert time.monotonic() - started < 5
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /v1/translate HTTP/1.1\r\nHost: te")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        assert time.monotonic() - started < 5  # the server closed the connection
        assert answer.startswith(b"HTTP/1.1 408")
    # The server still serves others.
    assert httpx.post(f"{server.url}/v1/translate", json={"text": "Amen."}, timeout=30).is_success


_metrics_client = httpx.Client(timeout=10)  # kept alive: polling stays cheap


def _metric(server: LiveServer, name: str) -> float:
    for line in _metrics_client.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def _wait_for_metric(server: LiveServer, name: str, value: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    seen = []
    while (current := _metric(server, name)) != value:
        seen.append(current)
        assert time.monotonic() < deadline, f"{name} never reached {value}: {seen[:20]}"
        time.sleep(0.005)


def test_clients_that_leave_free_the_queue(start_server: Callable[..., LiveServer]) -> None:
    """Queue of 16 texts: one long request runs (its 80 beam rows fill the running batch),
    a client queues 8 texts behind it and leaves. Its texts leave the queue at once (the
    next request is admitted, not refused) and are never decoded."""
    server = start_server(
        max_texts="8",
        max_queue="16",
        max_batch_size="8",
        max_batch_rows="80",
        max_wait_ms="0",
        max_chars="4000",
        max_source_tokens="2048",
        max_sentence_words="0",  # each text one sentence: the queue counts texts
    )
    body = {"text": [" ".join([LONG_TEXT] * 6)] * 8, "beam_size": 10}
    url = f"{server.url}/v1/translate"
    payload = json.dumps(body).encode()
    for _round in range(3):
        running: list[httpx.Response] = []
        runner = threading.Thread(
            target=lambda done=running: done.append(httpx.post(url, json=body, timeout=60))
        )
        runner.start()
        _wait_for_metric(server, 'nmt_queue_depth_texts{model="en-es"}', 8, timeout=10)
        with _connect(server) as leaver:
            leaver.sendall(
                b"POST /v1/translate HTTP/1.1\r\nHost: test\r\n"
                b"Content-Type: application/json\r\nContent-Length: "
                + str(len(payload)).encode()
                + b"\r\n\r\n"
                + payload
            )
            _wait_for_metric(server, 'nmt_queue_depth_texts{model="en-es"}', 16, timeout=10)
        # The leaver has gone while the long request still runs.
        _wait_for_metric(server, 'nmt_queue_depth_texts{model="en-es"}', 8, timeout=10)
        assert not running, "the long request ended too soon: the test proves nothing"
        later = httpx.post(url, json={"text": ["Amen."] * 8, "beam_size": 1}, timeout=60)
        assert later.status_code == 200, later.text  # admitted: the queue had room
        runner.join(timeout=60)
        assert running and running[0].status_code == 200

    decoded = _metric(server, 'nmt_batch_size_texts_sum{model="en-es"}')
    assert decoded == 3 * (8 + 8)  # the long and the later requests; no leaver's text
    assert _metric(server, "nmt_cancelled_requests_total") == 3
