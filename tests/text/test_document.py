"""Sentence translations joined into a document: whitespace, offsets, links, matrices."""

from __future__ import annotations

import numpy as np

from service.inference.alignment import aggregate_to_words
from service.inference.translation import Alternative, Translation
from service.text.document import assemble, join_text, join_translations


def sentence(source: str, text: str, pharaoh: str, score: float = -1.0) -> Translation:
    """A translation of one sentence whose pieces are its words, attending diagonally."""
    source_pieces = [f"\u2581{w}" for w in source.split()] + ["</s>"]
    target_pieces = [f"\u2581{w}" for w in text.split()] + ["</s>"]
    attention = np.eye(len(target_pieces), len(source_pieces))
    attention[:, -1] += 1 - attention.sum(axis=1)
    words = aggregate_to_words(attention, source_pieces, target_pieces)
    return Translation(
        source=source,
        text=text,
        score=score,
        alternatives=[Alternative(text.upper(), score - 1)],
        source_tokens=source_pieces,
        target_tokens=target_pieces,
        attention=attention,
        words=words,
        pharaoh=pharaoh,
    )


def test_join_keeps_the_whitespace_between_and_around_sentences() -> None:
    source = " One two.\n\nThree.  Four? "
    spans = [(1, 9), (11, 17), (19, 24)]
    text, offsets = join_text(source, spans, ["Uno dos.", "Tres.", "¿Cuatro?"])
    assert text == " Uno dos.\n\nTres.  ¿Cuatro? "
    assert [text[a:b] for a, b in offsets] == ["Uno dos.", "Tres.", "¿Cuatro?"]


def test_document_words_links_and_spans_cover_the_whole_text() -> None:
    source = "One two.\n\nThree."
    spans = [(0, 8), (10, 16)]
    parts = [sentence("One two.", "Uno dos.", "0-0 1-1"), sentence("Three.", "Tres.", "0-0")]
    document = join_translations(source, spans, parts)
    assert document.text == "Uno dos.\n\nTres."
    assert document.source_words == ["One", "two.", "Three.", "</s>"]
    assert document.target_words == ["Uno", "dos.", "Tres.", "</s>"]
    assert document.links == [(0, 0), (1, 1), (2, 2)]  # the second sentence's links moved
    for words, offsets, text in (
        (document.source_words, document.source_spans, source),
        (document.target_words, document.target_spans, document.text),
    ):
        assert offsets[-1] is None
        assert [text[s[0] : s[1]] for s in offsets[:-1] if s is not None] == words[:-1]
    assert [s.target_span for s in document.sentences] == [(0, 8), (10, 15)]
    assert [s.source_words for s in document.sentences] == [(0, 2), (2, 3)]
    assert document.source_tokens.count("</s>") == 2


def test_score_is_weighted_by_target_pieces_and_alternatives_join() -> None:
    parts = [sentence("A b c.", "X y z.", "", -1.0), sentence("D.", "W.", "", -4.0)]
    document = join_translations("A b c. D.", [(0, 6), (7, 9)], parts)
    # 4 and 2 target pieces (with </s>): (4 * -1 + 2 * -4) / 6
    assert np.isclose(document.score, -2.0)
    assert [a.text for a in document.alternatives] == ["X Y Z. W."]


def test_word_matrices_are_pooled_onto_whitespace_words() -> None:
    # The model saw three words where the text has two ("1/2" became "1", "/2").
    translation = sentence("1 /2 cup", "medio vaso", "0-0 1-0 2-1")
    document = assemble("1/2 cup", [(0, 7)], "medio vaso", [(0, 10)], [translation])
    [block] = document.sentences
    assert document.source_words == ["1/2", "cup", "</s>"]
    assert block.word_attention.shape == (3, 3)
    np.testing.assert_allclose(block.word_attention.sum(axis=1), 1.0)
    assert block.word_attention[0, 0] == 1.0  # both halves' weight on "1/2"
    assert document.links == [(0, 0), (1, 1)]


def test_covering_links_give_every_source_word_its_best_target_word() -> None:
    translation = sentence("One two three.", "Uno dos tres.", "0-0")  # two and three unlinked
    document = join_translations("One two three.", [(0, 14)], [translation])
    assert document.links == [(0, 0)]
    assert document.covering_links() == [(0, 0), (1, 1), (2, 2)]  # the diagonal matrix
