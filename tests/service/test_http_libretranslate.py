"""LibreTranslate-compatible routes, driven by the real ``libretranslatepy`` client and by
plain HTTP against the real server."""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Callable

import httpx
import pytest
from deep_translator import LibreTranslator
from deep_translator.exceptions import AuthorizationException
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


def test_detect_ranks_the_served_languages_with_confidences(shared_server: LiveServer) -> None:
    client = LibreTranslateAPI(shared_server.url)
    spanish = client.detect("¿Dónde está la casa de mi padre?")
    english = client.detect("Where is the house of my father?")
    assert [d["language"] for d in spanish] == ["es", "en"]
    assert [d["language"] for d in english] == ["en", "es"]
    for ranked in (spanish, english):
        assert ranked[0]["confidence"] > 50 > ranked[1]["confidence"]
        assert abs(sum(d["confidence"] for d in ranked) - 100) < 0.1


def error_of(call: Callable[[], object]) -> tuple[int, dict[str, str]]:
    with pytest.raises(urllib.error.HTTPError) as raised:
        call()
    return raised.value.code, json.loads(raised.value.read())


def test_a_wrong_language_is_an_error_in_libretranslate_shape(shared_server: LiveServer) -> None:
    client = LibreTranslateAPI(shared_server.url)
    status, body = error_of(lambda: client.translate(TEXT, "en", "fr"))
    assert (status, body) == (400, {"error": "fr is not supported"})
    status, body = error_of(lambda: client.translate(TEXT, "de", "es"))
    assert (status, body) == (400, {"error": "de is not supported"})
    status, body = error_of(lambda: client.translate(TEXT, "es", "es"))
    assert (status, body) == (
        400,
        {"error": "Spanish (es) is not available as a target language from Spanish (es)"},
    )


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
    # One model reads only English: that is the source, with what detection says of it.
    assert [d["language"] for d in body["detectedLanguage"]] == ["en", "en"]
    assert all(0 < d["confidence"] <= 100 for d in body["detectedLanguage"])
    for text, doc_id in zip(texts, body["alignment_id"], strict=True):
        document = httpx.get(f"{shared_server.url}/v1/translations/{doc_id}").json()
        assert document["source"] == text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"source": "en", "target": "es"}, "Invalid request: missing q parameter"),
        ({"q": "Amen.", "target": "es"}, "Invalid request: missing source parameter"),
        ({"q": "", "source": "en", "target": "es"}, "Invalid request: missing q parameter"),
        ({"q": "Amen.", "source": "en"}, "Invalid request: missing target parameter"),
        ({"q": "Amen.", "source": "en", "target": "es", "format": "xml"}, "xml format is not"),
        ({"q": " ", "source": "en", "target": "es"}, "must not be empty"),
        ({"q": [], "source": "en", "target": "es"}, "Invalid request: missing q parameter"),
        (
            {"q": "Amen.", "source": "en", "target": "es", "alternatives": 99},
            "Invalid request: alternatives parameter must be <= 9",
        ),
        (
            {"q": "Amen.", "source": "en", "target": "es", "alternatives": "two"},
            "Invalid request: alternatives parameter is not a number",
        ),
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


def test_deep_translator_sends_its_parameters_in_the_query_string(
    shared_server: LiveServer,
) -> None:
    """deep-translator posts an empty body with q, source, target, format and a key (it
    needs one, even where none is required) in the query string."""
    translator = LibreTranslator(
        source="en", target="es", api_key="unused", custom_url=f"{shared_server.url}/"
    )
    assert translator.translate(TEXT) == v1_translation(shared_server, TEXT)
    assert translator.translate_batch([TEXT, "Jesus wept."]) == [
        v1_translation(shared_server, TEXT),
        v1_translation(shared_server, "Jesus wept."),
    ]


def test_deep_translator_with_keys_on(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(api_keys="lt-key")
    url = f"{server.url}/"
    good = LibreTranslator(source="en", target="es", api_key="lt-key", custom_url=url)
    assert good.translate(TEXT) == v1_translation_with_key(server, TEXT, "lt-key")
    wrong = LibreTranslator(source="en", target="es", api_key="wrong", custom_url=url)
    with pytest.raises(AuthorizationException):
        wrong.translate(TEXT)


def test_the_body_wins_over_the_query_string(shared_server: LiveServer) -> None:
    response = httpx.post(
        f"{shared_server.url}/translate",
        params={"q": "Jesus wept.", "source": "en", "target": "fr"},
        data={"target": "es"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["translatedText"] == v1_translation(shared_server, "Jesus wept.")


def test_health_frontend_settings_and_spec(shared_server: LiveServer) -> None:
    assert httpx.get(f"{shared_server.url}/health").json() == {"status": "ok"}
    settings = httpx.get(f"{shared_server.url}/frontend/settings").json()
    assert settings == {
        "charLimit": 2000,
        "frontendTimeout": 500,
        "apiKeys": False,
        "keyRequired": False,
        "suggestions": False,
        "filesTranslation": False,
        "supportedFilesFormat": [],
        "language": {
            "source": {"code": "en", "name": "English"},
            "target": {"code": "es", "name": "Spanish"},
        },
    }
    spec = httpx.get(f"{shared_server.url}/spec").json()
    assert spec == httpx.get(f"{shared_server.url}/openapi.json").json()
    assert {"/translate", "/v2/translate", "/v1/translate"} <= set(spec["paths"])


def test_frontend_settings_say_a_key_is_required(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(api_keys="lt-key", max_chars="500")
    settings = httpx.get(f"{server.url}/frontend/settings").json()
    assert (settings["charLimit"], settings["apiKeys"], settings["keyRequired"]) == (
        500,
        True,
        True,
    )


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/translate", "POST"),
        ("GET", "/detect", "POST"),
        ("POST", "/languages", "GET"),
        ("POST", "/health", "GET"),
        ("POST", "/spec", "GET"),
        ("PUT", "/frontend/settings", "GET"),
    ],
)
def test_other_methods_are_405_in_libretranslate_shape(
    shared_server: LiveServer, method: str, path: str, allow: str
) -> None:
    response = httpx.request(method, f"{shared_server.url}{path}")
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json() == {"error": "Method Not Allowed"}


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"q=\xff&source=en&target=es", None),
    ],
)
def test_unreadable_bodies_are_400(
    shared_server: LiveServer, content: bytes, content_type: str | None
) -> None:
    headers = {"content-type": content_type or "application/x-www-form-urlencoded"}
    response = httpx.post(f"{shared_server.url}/translate", content=content, headers=headers)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


def test_html_is_handed_to_the_pipeline(shared_server: LiveServer) -> None:
    """format=html is accepted here; the answer is the pipeline's (see
    test_http_markup_clients.py for what it must be once markup is translated)."""
    response = httpx.post(
        f"{shared_server.url}/translate",
        json={"q": "<b>Amen.</b>", "source": "en", "target": "es", "format": "html"},
        timeout=60,
    )
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json() == {"error": "text_format 'html' is not supported yet"}
