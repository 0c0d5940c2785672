"""format html and xml on /v1/translate and /v1/align, over HTTP."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import httpx

from tests.conftest import LiveServer

PAGE = (
    '<!DOCTYPE html><div class="intro"><p>In the beginning, <b>God</b> created the heavens.'
    ' The earth was empty.</p><p>Let there be <a href="/light">light</a>.</p>'
    '<pre>keep  me</pre><img src="x.png" alt="the light"></div>'
)


def post(server: LiveServer, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=60)


class Elements(HTMLParser):
    """The start tags (with attributes, alt and title aside) and whether they nest."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.starts: list[tuple[str, tuple[tuple[str, str | None], ...]]] = []
        self.open: list[str] = []
        self.nested = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        kept = tuple((k, v) for k, v in attrs if k not in ("alt", "title"))
        self.starts.append((tag, kept))
        if tag not in ("img", "br"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.nested = False


def elements(markup: str) -> Elements:
    parser = Elements()
    parser.feed(markup)
    parser.close()
    return parser


def test_html_keeps_every_element_and_untranslated_content(shared_server: LiveServer) -> None:
    response = post(shared_server, "/v1/translate", {"text": PAGE, "format": "html"})
    assert response.status_code == 200, response.text
    [translation] = response.json()["translations"]
    markup = translation["text"]
    source, target = elements(PAGE), elements(markup)
    assert target.nested and not target.open
    assert sorted(set(target.starts)) == sorted(set(source.starts))  # none lost or invented
    assert markup.startswith("<!DOCTYPE html>")
    assert "<pre>keep  me</pre>" in markup and 'src="x.png"' in markup
    plain = translation["plain"]
    assert plain["source"].split("\n\n")[0].startswith("In the beginning, God created")
    assert "<" not in plain["target"]
    # the alignment's offsets index the plain texts
    words = translation["alignment"]["words"]
    assert [plain["target"][a:b] for a, b in words["target_spans"][:-1]] == plain["target"].split()
    bold = re.findall(r"<b>(.*?)</b>", markup)
    assert (bold and all(b.strip() for b in bold)) or "<b></b>" in markup


def test_a_marked_word_lands_on_the_words_linked_to_it(shared_server: LiveServer) -> None:
    text = "Let there be <b>light</b>."
    [translation] = post(shared_server, "/v1/translate", {"text": text, "format": "html"}).json()[
        "translations"
    ]
    words = translation["alignment"]["words"]
    links = [tuple(map(int, p.split("-"))) for p in translation["alignment"]["pharaoh"].split()]
    linked = {words["target"][j] for i, j in links if words["source"][i] == "light."}
    bold = " ".join(re.findall(r"<b>(.*?)</b>", translation["text"])).split()
    assert bold, translation["text"]
    assert set(bold) <= linked | {w for w in words["target"] if w not in linked}
    unmarked = re.sub(r"</?b>", "", translation["text"])
    assert unmarked.split() == translation["plain"]["target"].split()


def test_align_places_the_source_markup_on_the_given_target(shared_server: LiveServer) -> None:
    response = post(
        shared_server,
        "/v1/align",
        {
            "source": "<p>Let there be <b>light</b>.</p>",
            "target": "Sea la luz.",
            "format": "html",
        },
    )
    assert response.status_code == 200, response.text
    [result] = response.json()["alignments"]
    placed = result["target_markup"]
    assert placed.startswith("<p>") and placed.endswith("</p>")
    assert re.sub(r"</?(p|b)>", "", placed) == "Sea la luz."
    assert placed.count("<b>") == placed.count("</b>") >= 1  # a copy per run of linked words
    words = result["alignment"]["words"]
    links = [tuple(map(int, p.split("-"))) for p in result["alignment"]["pharaoh"].split()]
    linked = {words["target"][j] for i, j in links if words["source"][i] == "light."}
    assert set(" ".join(re.findall(r"<b>(.*?)</b>", placed)).split()) <= linked


def test_malformed_html_is_repaired_and_bad_xml_refused(shared_server: LiveServer) -> None:
    repaired = post(
        shared_server, "/v1/translate", {"text": "<p>Let there <b>be light", "format": "html"}
    )
    assert repaired.status_code == 200
    target = elements(repaired.json()["translations"][0]["text"])
    assert target.nested and not target.open
    refused = post(shared_server, "/v1/translate", {"text": "<a>light</b>", "format": "xml"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_markup"


def test_align_refuses_blocks_that_do_not_match_the_target_lines(
    shared_server: LiveServer,
) -> None:
    response = post(
        shared_server,
        "/v1/align",
        {"source": "<p>Light.</p><p>Dark.</p>", "target": "Luz. Tinieblas.", "format": "html"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unit_count_mismatch"


def test_markup_without_text_to_translate_comes_back_as_it_was(shared_server: LiveServer) -> None:
    for text, fmt in (('<p><img src="a.png"></p>', "html"), ("<x>--</x>", "xml")):
        response = post(shared_server, "/v1/translate", {"text": text, "format": fmt})
        assert response.status_code == 200, response.text
        assert response.json()["translations"][0]["text"] == text


def test_punctuation_inside_a_word_does_not_split_its_markup(shared_server: LiveServer) -> None:
    # A segmenter boundary inside a word ("day?Then") would give the word to two sentences.
    text = "<p>The <b>day?Then</b> night!And morning</p>"
    response = post(shared_server, "/v1/translate", {"text": text, "format": "html"})
    assert response.status_code == 200, response.text
    translation = response.json()["translations"][0]
    assert translation["text"].count("<b>") >= 1
    assert len(translation["sentences"]) == 1
