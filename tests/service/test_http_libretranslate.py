"""LibreTranslate-compatible routes, driven by the real ``libretranslatepy`` client and by
plain HTTP against the real server."""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Callable

import httpx
import pytest
from libretranslatepy import LibreTranslateAPI

from tests.conftest import LiveServer

TEXT = "And God said, Let there be light: and there was light."


def v1_translation(server: LiveServer, text: str) -> str:
    response = httpx.post(f"{server.url}/v1/translate", json={"text": text}, timeout=60)
    result: str = response.json()["translations"][0]["text"]
    return result


def test_the_client_translates_like_v1(shared_server: LiveServer) -> None:
    client = LibreTranslateAPI(shared_server.url)
    assert client.translate(TEXT, "en", "es") == v1_translation(shared_server, TEXT)


def test_the_client_lists_the_languages(shared_server: LiveServer) -> None:
    languages = LibreTranslateAPI(shared_server.url).languages()
    assert languages == [
        {"code": "en", "name": "English", "targets": ["es"]},
        {"code": "es", "name": "Spanish", "targets": []},
    ]


def test_detect_names_the_only_language_without_claiming_confidence(
    shared_server: LiveServer,
) -> None:
    assert LibreTranslateAPI(shared_server.url).detect("Hola mundo") == [
        {"language": "en", "confidence": 0.0}
    ]


def error_of(call: Callable[[], object]) -> tuple[int, dict[str, str]]:
    with pytest.raises(urllib.error.HTTPError) as raised:
        call()
    return raised.value.code, json.loads(raised.value.read())


def test_a_wrong_language_is_an_error_in_libretranslate_shape(shared_server: LiveServer) -> None:
    client = LibreTranslateAPI(shared_server.url)
    status, body = error_of(lambda: client.translate(TEXT, "en", "fr"))
    assert status == 400
    assert body == {"error": "fr is not supported; this service translates en to es"}
    status, body = error_of(lambda: client.translate(TEXT, "de", "es"))
    assert (status, body) == (400, {"error": "de is not supported; this service translates en"})


def test_keys_are_required_when_configured(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(api_keys="lt-key")
    status, body = error_of(lambda: LibreTranslateAPI(server.url).translate(TEXT, "en", "es"))
    assert status == 403 and body == {"error": "An API key is required: send api_key"}
    status, body = error_of(
        lambda: LibreTranslateAPI(server.url, api_key="wrong").translate(TEXT, "en", "es")
    )
    assert status == 403 and body == {"error": "Invalid API key"}
    translated = LibreTranslateAPI(server.url, api_key="lt-key").translate(TEXT, "en", "es")
    assert translated == v1_translation_with_key(server, TEXT, "lt-key")


def v1_translation_with_key(server: LiveServer, text: str, key: str) -> str:
    response = httpx.post(
        f"{server.url}/v1/translate",
        json={"text": text},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    result: str = response.json()["translations"][0]["text"]
    return result


def test_lists_alternatives_auto_source_and_alignment_ids(shared_server: LiveServer) -> None:
    texts = [TEXT, "Jesus wept."]
    response = httpx.post(
        f"{shared_server.url}/translate",
        json={"q": texts, "source": "auto", "target": "es", "alternatives": 2},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["translatedText"] == [v1_translation(shared_server, t) for t in texts]
    assert [len(a) for a in body["alternatives"]] == [2, 2]
    assert body["detectedLanguage"] == [{"language": "en", "confidence": 0.0}] * 2
    for text, doc_id in zip(texts, body["alignment_id"], strict=True):
        document = httpx.get(f"{shared_server.url}/v1/translations/{doc_id}").json()
        assert document["source"] == text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"source": "en", "target": "es"}, "Invalid request: missing q parameter"),
        ({"q": "Amen.", "target": "es"}, "Invalid request: missing source parameter"),
        ({"q": "Amen.", "source": "en", "target": "es", "format": "html"}, "format 'html'"),
        ({"q": " ", "source": "en", "target": "es"}, "must not be empty"),
        ({"q": "Amen.", "source": "en", "target": "es", "alternatives": 99}, "at most 9"),
        ({"q": "a" * 2001, "source": "en", "target": "es"}, "the limit is 2000"),
    ],
)
def test_bad_requests_get_a_message(
    shared_server: LiveServer, body: dict[str, object], message: str
) -> None:
    response = httpx.post(f"{shared_server.url}/translate", json=body, timeout=60)
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"error"}
    assert message in response.json()["error"]


def test_v1_errors_keep_their_own_shape(shared_server: LiveServer) -> None:
    response = httpx.post(f"{shared_server.url}/v1/translate", json={"text": " "})
    assert set(response.json()["error"]) == {"code", "message"}
