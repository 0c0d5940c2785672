"""Every kind of bad input gets a clear 4xx in the one JSON error shape, never a 500."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import LiveServer

MAX_TEXTS = 32  # the default NMT_MAX_TEXTS
MAX_CHARS = 2000  # the default NMT_MAX_CHARS
MAX_BEAM = 10  # the default NMT_MAX_BEAM_SIZE
JSON = {"content-type": "application/json"}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """``response`` is ``status`` with ``{"error": {"code", "message"}}`` and nothing else."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def post_raw(server: LiveServer, content: bytes) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/translate", content=content, headers=JSON, timeout=30)


def post_json(server: LiveServer, body: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/translate", json=body, timeout=30)


@pytest.mark.parametrize(
    "content", [b"{not json", b'{"text": "a",}', b'{"text": "a"', b"[" * 10_000, b"\x00"]
)
def test_invalid_json_is_400(shared_server: LiveServer, content: bytes) -> None:
    assert_error(post_raw(shared_server, content), 400)


def test_empty_body_is_422(shared_server: LiveServer) -> None:
    assert_error(post_raw(shared_server, b""), 422, "invalid_request")


@pytest.mark.parametrize("body", [["a"], "a", 5, None, True])
def test_body_that_is_not_an_object_is_422(shared_server: LiveServer, body: object) -> None:
    assert_error(post_json(shared_server, body), 422, "invalid_request")


@pytest.mark.parametrize(
    "body",
    [
        {"text": 5},
        {"text": None},
        {"text": ["a", 1]},
        {"text": {"a": "b"}},
        {"text": "a", "beam_size": "5"},
        {"text": "a", "beam_size": 2.5},
        {"text": "a", "n_best": 1.5},
        {"text": "a", "beam_size": True},
        {"text": "a", "n_best": "1"},
        {"text": "a", "return_attention": "yes"},
        {"text": "a", "return_attention": 1},
        {"text": "a", "source_lang": 1},
        {},
    ],
)
def test_wrong_types_are_422(shared_server: LiveServer, body: dict[str, Any]) -> None:
    assert_error(post_json(shared_server, body), 422, "invalid_request")


def test_a_number_without_fraction_is_an_integer(shared_server: LiveServer) -> None:
    # JSON Schema's integer: a client generated from the OpenAPI document may send 2.0.
    body = {"text": "In the beginning.", "beam_size": 2.0, "n_best": 2.0, "return_candidates": 1.0}
    response = post_json(shared_server, body)
    assert response.status_code == 200, response.text
    translation = response.json()["translations"][0]
    assert len(translation["alternatives"]) == 1
    assert len(translation["candidates"][0]) == 1


@pytest.mark.parametrize("text", ["", " ", "\t\n \r", "\u3000", [], ["ok", ""], ["ok", "  "]])
def test_empty_or_whitespace_text_is_422(shared_server: LiveServer, text: object) -> None:
    assert_error(post_json(shared_server, {"text": text}), 422, "invalid_request")


def test_too_many_texts_is_413(shared_server: LiveServer) -> None:
    error = assert_error(
        post_json(shared_server, {"text": ["Amen."] * (MAX_TEXTS + 1)}), 413, "too_many_texts"
    )
    assert str(MAX_TEXTS) in error["message"]


def test_the_maximum_number_of_texts_is_accepted(shared_server: LiveServer) -> None:
    response = post_json(shared_server, {"text": ["Amen."] * MAX_TEXTS, "beam_size": 1})
    assert response.status_code == 200
    assert len(response.json()["translations"]) == MAX_TEXTS


def test_text_over_the_character_limit_is_413(shared_server: LiveServer) -> None:
    error = assert_error(
        post_json(shared_server, {"text": ["Amen.", "a " * (MAX_CHARS // 2) + "b"]}),
        413,
        "text_too_long",
    )
    assert "text 1" in error["message"]


def test_text_over_the_token_limit_is_413(shared_server: LiveServer) -> None:
    assert_error(post_json(shared_server, {"text": "x" * 1000}), 413, "input_too_long")


@pytest.mark.parametrize("field", ["texts", "beam", "model", "Text"])
def test_unknown_fields_are_422(shared_server: LiveServer, field: str) -> None:
    error = assert_error(post_json(shared_server, {"text": "a", field: 1}), 422, "invalid_request")
    assert field in error["message"]


@pytest.mark.parametrize("beam_size", [0, -1, MAX_BEAM + 1, 10**30])
def test_bad_beam_sizes_are_422(shared_server: LiveServer, beam_size: int) -> None:
    assert_error(post_json(shared_server, {"text": "a", "beam_size": beam_size}), 422)


@pytest.mark.parametrize(
    "options", [{"beam_size": 2, "n_best": 3}, {"beam_size": 1, "n_best": 2}, {"n_best": 0}]
)
def test_bad_n_best_is_422(shared_server: LiveServer, options: dict[str, int]) -> None:
    assert_error(post_json(shared_server, {"text": "a", **options}), 422)


def test_the_maximum_beam_size_is_accepted(shared_server: LiveServer) -> None:
    response = post_json(shared_server, {"text": "Amen.", "beam_size": MAX_BEAM, "n_best": 3})
    assert response.status_code == 200
    assert len(response.json()["translations"][0]["alternatives"]) == 2


@pytest.mark.parametrize("doc_id", ["0" * 32, "f" * 32])
def test_unknown_id_is_404(shared_server: LiveServer, doc_id: str) -> None:
    for suffix in ("", "/alignment.svg", "/alignment.png"):
        response = httpx.get(f"{shared_server.url}/v1/translations/{doc_id}{suffix}", timeout=10)
        assert_error(response, 404, "not_found")


@pytest.mark.parametrize("doc_id", ["abc", "A" * 32, "0" * 33, "%00", "..%2F..%2Fetc", "'; --"])
def test_malformed_id_is_404(shared_server: LiveServer, doc_id: str) -> None:
    response = httpx.get(f"{shared_server.url}/v1/translations/{doc_id}", timeout=10)
    assert_error(response, 404)


@pytest.mark.parametrize(
    "escaped", [b"\\u0007", b"\\u0000", b"\\u001b[31m", b"\\u007f", b"\\u0085", b"\\u200bok\\u0008"]
)
def test_control_characters_are_422(shared_server: LiveServer, escaped: bytes) -> None:
    error = assert_error(
        post_raw(shared_server, b'{"text": ["fine", "a' + escaped + b'b"]}'),
        422,
        "invalid_request",
    )
    assert "control character" in error["message"]


def test_tabs_and_newlines_are_allowed(shared_server: LiveServer) -> None:
    response = post_json(shared_server, {"text": "God\tis\nlove.\r\n", "beam_size": 1})
    assert response.status_code == 200


@pytest.mark.parametrize("escaped", [b"\\ud800", b"a\\udfffb", b"\\udc00\\ud800"])
def test_lone_surrogates_are_422(shared_server: LiveServer, escaped: bytes) -> None:
    error = assert_error(
        post_raw(shared_server, b'{"text": "' + escaped + b'"}'), 422, "invalid_request"
    )
    assert "surrogate" in error["message"]


def test_a_surrogate_pair_is_a_valid_character(shared_server: LiveServer) -> None:
    response = post_raw(shared_server, b'{"text": "smile \\ud83d\\ude00", "beam_size": 1}')
    assert response.status_code == 200


@pytest.mark.parametrize(
    "content",
    [b'{"text": "\xff"}', b'{"text": "caf\xc3"}', b"\xfe\xff\x00{", b'{"text": "\xed\xa0\x80"}'],
)
def test_invalid_utf8_is_a_4xx(shared_server: LiveServer, content: bytes) -> None:
    response = post_raw(shared_server, content)
    assert response.status_code in (400, 422), response.text
    assert_error(response, response.status_code)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/translate"),
        ("PUT", "/v1/translate"),
        ("POST", "/v1/models"),
        ("DELETE", "/v1/translations/" + "0" * 32),
        ("POST", "/health/live"),
    ],
)
def test_wrong_method_is_405(shared_server: LiveServer, method: str, path: str) -> None:
    response = httpx.request(method, f"{shared_server.url}{path}", timeout=10)
    assert_error(response, 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/nope", "/v1", "/v3/translate", "/v1/translate/extra"])
def test_unknown_route_is_404(shared_server: LiveServer, path: str) -> None:
    response = httpx.post(f"{shared_server.url}{path}", json={"text": "a"}, timeout=10)
    assert_error(response, 404, "not_found")


def test_huge_body_is_413(shared_server: LiveServer) -> None:
    payload = b'{"text": "' + b"a" * 1_000_000 + b'"}'
    assert_error(post_raw(shared_server, payload), 413, "body_too_large")


def test_huge_content_length_is_refused_before_the_body_is_read(
    shared_server: LiveServer,
) -> None:
    """A client announcing 10 GB is answered at once, without the server reading the body."""
    url = urlsplit(shared_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/translate HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000000\r\n\r\n{"
        )
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    assert received.startswith(b"HTTP/1.1 413 "), received[:200]


@pytest.mark.parametrize("length", ["abc", "-1", "1e9"])
def test_malformed_content_length_is_400(shared_server: LiveServer, length: str) -> None:
    url = urlsplit(shared_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/translate HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + length.encode() + b"\r\nConnection: close\r\n\r\n"
        )
        received = sock.recv(4096)
    assert received.startswith(b"HTTP/1.1 400 "), received[:200]


def test_no_bad_input_above_caused_a_500(shared_server: LiveServer) -> None:
    """The server's own count of answers by status: no 5xx after the whole module."""
    assert_error(post_raw(shared_server, b"{"), 400)
    metrics = httpx.get(f"{shared_server.url}/metrics", timeout=10).text
    statuses = [
        line.split('status="')[1].split('"')[0]
        for line in metrics.splitlines()
        if line.startswith("nmt_http_requests_total{")
    ]
    assert "400" in statuses
    assert not [s for s in statuses if s.startswith("5")]


def test_chunked_body_over_the_limit_is_413(shared_server: LiveServer) -> None:
    def chunks():  # no Content-Length: the server must stop reading at the limit
        yield b'{"text": "'
        for _ in range(200):
            yield b"a" * 10_000
        yield b'"}'

    response = httpx.post(
        f"{shared_server.url}/v1/translate",
        content=chunks(),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert_error(response, 413, "body_too_large")
