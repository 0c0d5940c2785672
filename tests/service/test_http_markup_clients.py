"""Clients that send markup: DeepL's ``tag_handling="html"`` (the official client) and
``"xml"``, LibreTranslate's ``format=html`` (as a form, and the request wagtail-localize
sends), against the real server.

They wait on markup translation in the pipeline (``translate_and_store(...,
text_format=...)``); until it lands they fail. What they pin: the tags come back around the
Spanish words linked to the tagged English word, the answer is markup, and everything
outside the tags is the plain translation of the text without them.
"""

from __future__ import annotations

import json
import re

import deepl
import httpx

from tests.conftest import LiveServer

PLAIN = "Let there be light."
MARKUP = "<p>Let there be <b>light</b>.</p>"
TAGGED_WORD = 3  # "light", the fourth word of PLAIN
TAG = re.compile(r"<[^>]+>")


def plain_translation_and_linked_words(server: LiveServer) -> tuple[str, set[str]]:
    """The plain translation of PLAIN and the Spanish words linked to the tagged word."""
    response = httpx.post(
        f"{server.url}/v1/translate",
        json={"text": PLAIN, "return_attention": True},
        timeout=60,
    )
    translation = response.json()["translations"][0]
    words = translation["alignment"]["words"]["target"]
    links = [
        tuple(map(int, link.split("-"))) for link in translation["alignment"]["pharaoh"].split()
    ]
    return translation["text"], {words[t] for s, t in links if s == TAGGED_WORD}


def assert_markup_around_the_word(server: LiveServer, answer: str) -> None:
    text, linked = plain_translation_and_linked_words(server)
    assert linked, "the tiny model links no Spanish word to 'light'; pick another text"
    assert answer.startswith("<p>") and answer.endswith("</p>"), answer
    assert answer.count("<b>") == 1 and answer.count("</b>") == 1, answer
    assert answer.index("<b>") < answer.index("</b>"), answer
    assert " ".join(TAG.sub("", answer).split()) == " ".join(text.split())
    bold = answer[answer.index("<b>") + 3 : answer.index("</b>")].split()
    assert bold and {word.strip(".,;:") for word in bold} <= {w.strip(".,;:") for w in linked}


def test_deepl_client_with_html_tag_handling(shared_server: LiveServer) -> None:
    translator = deepl.Translator("any-key", server_url=shared_server.url)
    result = translator.translate_text(MARKUP, target_lang="ES", tag_handling="html")
    assert isinstance(result, deepl.TextResult)
    assert result.billed_characters == len(MARKUP)
    assert_markup_around_the_word(shared_server, result.text)


def test_deepl_xml_tag_handling(shared_server: LiveServer) -> None:
    response = httpx.post(
        f"{shared_server.url}/v2/translate",
        json={"text": [MARKUP], "target_lang": "ES", "tag_handling": "xml"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert_markup_around_the_word(shared_server, response.json()["translations"][0]["text"])


def test_libretranslate_format_html_as_a_form(shared_server: LiveServer) -> None:
    """libretranslatepy has no format argument: the form LibreTranslate's own tests send."""
    response = httpx.post(
        f"{shared_server.url}/translate",
        data={"q": MARKUP, "source": "en", "target": "es", "format": "html"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert_markup_around_the_word(shared_server, response.json()["translatedText"])


def test_the_request_wagtail_localize_sends(shared_server: LiveServer) -> None:
    """JSON with ``q`` a list of HTML strings and ``format: "html"``; wagtail-localize zips
    the answer list with its strings strictly, so there is one entry per string."""
    strings = [MARKUP, "<p>Jesus wept.</p>", "<p><i>Amen.</i></p>"]
    response = httpx.post(
        f"{shared_server.url}/translate",
        content=json.dumps(
            {"q": strings, "source": "en", "target": "es", "api_key": "", "format": "html"}
        ),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    translated = response.json()["translatedText"]
    pairs = list(zip(strings, translated, strict=True))
    assert_markup_around_the_word(shared_server, pairs[0][1])
    assert pairs[1][1].startswith("<p>") and pairs[1][1].endswith("</p>")
    assert re.fullmatch(r"<p><i>[^<>]+</i></p>", pairs[2][1]), pairs[2][1]
