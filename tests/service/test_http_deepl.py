"""DeepL-compatible routes, driven by the official ``deepl`` client (``server_url``) and by
plain HTTP against the real server."""

from __future__ import annotations

from collections.abc import Callable

import deepl
import httpx
import pytest

from tests.conftest import LiveServer

TEXT = "And God said, Let there be light: and there was light."
OTHER = "Jesus wept."


def v1_translation(server: LiveServer, text: str, key: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(
        f"{server.url}/v1/translate", json={"text": text}, headers=headers, timeout=60
    )
    result: str = response.json()["translations"][0]["text"]
    return result


def client(server: LiveServer, key: str = "any-key") -> deepl.Translator:
    return deepl.Translator(key, server_url=server.url)


def test_the_client_translates_a_text_like_v1(shared_server: LiveServer) -> None:
    result = client(shared_server).translate_text(TEXT, target_lang="ES")
    assert isinstance(result, deepl.TextResult)
    assert result.text == v1_translation(shared_server, TEXT)
    assert result.detected_source_lang == "EN"
    assert result.billed_characters == len(TEXT)


def test_the_client_translates_a_list_in_order(shared_server: LiveServer) -> None:
    results = client(shared_server).translate_text(
        [TEXT, OTHER], source_lang="EN", target_lang="es"
    )
    assert isinstance(results, list)
    assert [r.text for r in results] == [
        v1_translation(shared_server, TEXT),
        v1_translation(shared_server, OTHER),
    ]
    assert [r.billed_characters for r in results] == [len(TEXT), len(OTHER)]


def test_split_sentences_and_preserve_formatting_are_accepted(shared_server: LiveServer) -> None:
    translator = client(shared_server)
    for split in ("0", "1", "nonewlines"):
        result = translator.translate_text(
            OTHER, target_lang="ES", split_sentences=split, preserve_formatting=True
        )
        assert isinstance(result, deepl.TextResult)
        assert result.text == v1_translation(shared_server, OTHER)


def test_the_client_lists_the_languages(shared_server: LiveServer) -> None:
    translator = client(shared_server)
    sources = translator.get_source_languages()
    assert [(s.code, s.name) for s in sources] == [("EN", "English")]
    targets = translator.get_target_languages()
    assert [(t.code, t.name, t.supports_formality) for t in targets] == [("ES", "Spanish", False)]


def test_languages_type_from_the_query_string(shared_server: LiveServer) -> None:
    url = f"{shared_server.url}/v2/languages"
    assert httpx.get(url, params={"type": "target"}).json() == [
        {"language": "ES", "name": "Spanish", "supports_formality": False}
    ]
    assert httpx.get(url, params={"type": "source"}).json() == [
        {"language": "EN", "name": "English"}
    ]
    response = httpx.get(url, params={"type": "both"})
    assert (response.status_code, response.json()) == (
        400,
        {"message": "Value for 'type' not supported."},
    )


def test_usage_counts_the_characters_translated(start_server: Callable[..., LiveServer]) -> None:
    server = start_server()
    translator = client(server)
    assert translator.get_usage().character.count == 0
    translator.translate_text([TEXT, OTHER], target_lang="ES")
    httpx.post(f"{server.url}/v1/translate", json={"text": OTHER}, timeout=60)
    usage = translator.get_usage()
    assert usage.character.valid
    assert usage.character.count == len(TEXT) + 2 * len(OTHER)
    assert not usage.any_limit_reached


def test_keys_are_checked_when_configured(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(api_keys="dl-key")
    result = client(server, "dl-key").translate_text(OTHER, target_lang="ES")
    assert isinstance(result, deepl.TextResult)
    assert result.text == v1_translation(server, OTHER, "dl-key")
    with pytest.raises(deepl.AuthorizationException):
        client(server, "wrong").translate_text(OTHER, target_lang="ES")
    with pytest.raises(deepl.AuthorizationException):
        client(server, "wrong").get_usage()
    for headers in ({}, {"Authorization": "Bearer dl-key"}):
        response = httpx.post(
            f"{server.url}/v2/translate",
            json={"text": [OTHER], "target_lang": "ES"},
            headers=headers,
        )
        assert response.status_code == 403
        assert set(response.json()) == {"message"}
        assert httpx.get(f"{server.url}/v2/languages", headers=headers).status_code == 403


def test_keys_off_any_key_or_none_works(shared_server: LiveServer) -> None:
    response = httpx.post(
        f"{shared_server.url}/v2/translate",
        data={"text": [TEXT, OTHER], "target_lang": "ES"},  # a form repeats text
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "translations": [
            {
                "detected_source_language": "EN",
                "text": v1_translation(shared_server, text),
                "billed_characters": len(text),
            }
            for text in (TEXT, OTHER)
        ]
    }


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"target_lang": "ES"}, 400, "Parameter 'text' not specified."),
        ({"text": [], "target_lang": "ES"}, 400, "Parameter 'text' not specified."),
        ({"text": [OTHER]}, 400, "Parameter 'target_lang' not specified."),
        ({"text": [OTHER], "target_lang": "ZZ"}, 400, "Value for 'target_lang' not supported."),
        ({"text": [OTHER], "target_lang": "EN-GB"}, 400, "Value for 'target_lang' not supported."),
        (
            {"text": [OTHER], "source_lang": "DE", "target_lang": "ES"},
            400,
            "Value for 'source_lang' not supported.",
        ),
        (
            {"text": [OTHER], "target_lang": "ES", "tag_handling": "markdown"},
            400,
            "Value for 'tag_handling' not supported.",
        ),
        (
            {"text": [OTHER], "target_lang": "ES", "split_sentences": "2"},
            400,
            "Value for 'split_sentences' not supported.",
        ),
        ({"text": [" "], "target_lang": "ES"}, 400, "must not be empty"),
        ({"text": ["a" * 2001], "target_lang": "ES"}, 413, "the limit is 2000"),
        ({"text": ["a"] * 33, "target_lang": "ES"}, 413, "at most 32"),
    ],
)
def test_bad_requests_get_deepl_errors(
    shared_server: LiveServer, body: dict[str, object], status: int, message: str
) -> None:
    response = httpx.post(f"{shared_server.url}/v2/translate", json=body, timeout=60)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"message"}
    assert message in response.json()["message"]


def test_the_client_reports_a_bad_request(shared_server: LiveServer) -> None:
    with pytest.raises(deepl.DeepLException, match="Value for 'target_lang' not supported"):
        client(shared_server).translate_text(OTHER, target_lang="JA")


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"text"'])
def test_unreadable_json_is_400(shared_server: LiveServer, content: bytes) -> None:
    response = httpx.post(
        f"{shared_server.url}/v2/translate",
        content=content,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert set(response.json()) == {"message"}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v2/translate", "POST"),
        ("POST", "/v2/languages", "GET"),
        ("PUT", "/v2/usage", "GET"),
    ],
)
def test_other_methods_are_405_in_deepl_shape(
    shared_server: LiveServer, method: str, path: str, allow: str
) -> None:
    response = httpx.request(method, f"{shared_server.url}{path}")
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json() == {"message": "Method Not Allowed"}
