"""Texts of several sentences over HTTP: each sentence decoded on its own, joined back with
the text's own whitespace, with offsets on both sides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import numpy as np

from tests.conftest import LiveServer

VERSES = [
    "In the beginning, God created the heavens and the earth.",
    "The earth was formless and empty.",
    "God said, Let there be light, and there was light.",
]
PARAGRAPH = f"{VERSES[0]} {VERSES[1]}\n\n{VERSES[2]}\n"


def post(server: LiveServer, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=60)


def test_a_paragraph_translates_like_its_sentences_one_by_one(shared_server: LiveServer) -> None:
    whole = post(shared_server, "/v1/translate", {"text": PARAGRAPH, "beam_size": 1})
    assert whole.status_code == 200, whole.text
    [translation] = whole.json()["translations"]
    alone = post(shared_server, "/v1/translate", {"text": VERSES, "beam_size": 1}).json()
    parts = [t["text"] for t in alone["translations"]]
    assert translation["text"] == f"{parts[0]} {parts[1]}\n\n{parts[2]}\n"
    spans = [s["source_span"] for s in translation["sentences"]]
    assert [PARAGRAPH[a:b] for a, b in spans] == VERSES
    targets = [s["target_span"] for s in translation["sentences"]]
    assert [translation["text"][a:b] for a, b in targets] == parts
    assert [s["score"] for s in translation["sentences"]] == [
        t["score"] for t in alone["translations"]
    ]


def test_a_paragraphs_words_links_and_blocks_cover_the_whole_text(
    shared_server: LiveServer,
) -> None:
    [translation] = post(shared_server, "/v1/translate", {"text": PARAGRAPH}).json()["translations"]
    alignment = translation["alignment"]
    words = alignment["words"]
    assert words["source"] == [*PARAGRAPH.split(), "</s>"]
    for side, text in (("source", PARAGRAPH), ("target", translation["text"])):
        assert [text[a:b] for a, b in words[f"{side}_spans"][:-1]] == text.split()
    assert alignment["attention"] is None and words["attention"] is None
    blocks = alignment["sentences"]
    assert len(blocks) == 3
    links = [tuple(map(int, p.split("-"))) for p in alignment["pharaoh"].split()]
    for i, j in links:  # a link never joins two sentences
        [block] = [b for b in blocks if b["source_words"][0] <= i < b["source_words"][1]]
        assert block["target_words"][0] <= j < block["target_words"][1]
    for block in blocks:
        (s0, s1), (t0, t1) = block["source_tokens"], block["target_tokens"]
        assert alignment["source_tokens"][s1 - 1] == "</s>"
        attention = np.array(block["attention"])
        assert attention.shape == (t1 - t0, s1 - s0)
        np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-4)
        (w0, w1), (v0, v1) = block["source_words"], block["target_words"]
        assert np.array(block["words_attention"]).shape == (v1 - v0 + 1, w1 - w0 + 1)


def test_each_sentence_of_a_document_has_its_own_heatmap(shared_server: LiveServer) -> None:
    [translation] = post(shared_server, "/v1/translate", {"text": PARAGRAPH}).json()["translations"]
    url = f"{shared_server.url}/v1/translations/{translation['id']}/alignment.svg"
    for n in range(3):
        response = httpx.get(url, params={"sentence": n}, timeout=30)
        assert response.status_code == 200
        assert VERSES[n].split()[1] in response.text
    missing = httpx.get(url, timeout=30)
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "no_such_sentence"
    assert httpx.get(url, params={"sentence": 3}, timeout=30).status_code == 422


def test_a_sentence_over_the_token_limit_is_refused_by_name(shared_server: LiveServer) -> None:
    long = "Light " + " ".join(["light"] * 300) + "."
    response = post(shared_server, "/v1/translate", {"text": f"{VERSES[0]} {long}"})
    assert response.status_code == 413
    message = response.json()["error"]["message"]
    assert "text 0, sentence 1" in message and "light light" in message


def test_align_pairs_sentences_or_says_it_aligned_the_whole(shared_server: LiveServer) -> None:
    source = f"{VERSES[0]} {VERSES[1]}"
    paired = post(
        shared_server,
        "/v1/align",
        {"source": source, "target": "En el principio. La tierra estaba desordenada."},
    ).json()["alignments"][0]
    assert paired["sentence_pairing"] == "sentences"
    assert len(paired["sentences"]) == 2
    assert len(paired["token_scores"]) == len(paired["alignment"]["target_tokens"])
    whole = post(
        shared_server, "/v1/align", {"source": source, "target": "En el principio la tierra."}
    ).json()["alignments"][0]
    assert whole["sentence_pairing"] == "whole"
    assert [s["source_span"] for s in whole["sentences"]] == [[0, len(source)]]


def test_long_sentences_are_cut_when_the_setting_asks(
    start_server: Callable[..., LiveServer],
) -> None:
    server = start_server(max_sentence_words="8")
    text = "And God said, Let there be light: and there was light, and it was good."
    [translation] = post(server, "/v1/translate", {"text": text}).json()["translations"]
    spans = [s["source_span"] for s in translation["sentences"]]
    assert len(spans) >= 2
    assert " ".join(text[a:b] for a, b in spans) == text
