"""The bench's lean HTTP client against the real server: answers on one keep-alive
connection, error statuses, and a new connection after the last one was closed."""

from __future__ import annotations

import asyncio

from bench.http_client import LeanConnection
from tests.conftest import LiveServer


def test_lean_client_reads_answers_on_one_connection(shared_server: LiveServer) -> None:
    async def exchange() -> list[tuple[int, object]]:
        connection = LeanConnection(shared_server.url)
        good = connection.request_bytes("POST", "/v1/translate", {"text": "God is love."})
        bad = connection.request_bytes("POST", "/v1/translate", {"text": ""})
        health = connection.request_bytes("GET", "/health/live")
        replies = [await connection.send(request) for request in (good, bad, good)]
        await connection.close()
        replies.append(await connection.send(health))  # opens a new connection
        await connection.close()
        return [(reply.status, reply.json()) for reply in replies]

    (s1, first), (s2, error), (s3, second), (s4, live) = asyncio.run(exchange())
    assert (s1, s2, s3, s4) == (200, 422, 200, 200)
    assert isinstance(first, dict) and isinstance(second, dict) and isinstance(error, dict)
    assert first["translations"][0]["text"] == second["translations"][0]["text"]
    assert first["translations"][0]["id"] != second["translations"][0]["id"]
    assert error["error"]["code"] == "invalid_request"
    assert live == {"status": "alive"}
