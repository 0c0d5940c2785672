"""Whitespace words with offsets, and the model's words placed on them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from service.text.words import map_words, whitespace_words


def test_whitespace_words_are_offsets_into_the_text() -> None:
    text = "  In the\tbeginning,\n\nGod  "
    spans = whitespace_words(text)
    assert [text[a:b] for a, b in spans] == ["In", "the", "beginning,", "God"]
    assert whitespace_words(text, 5, 19) == [(5, 8), (9, 19)]


def test_equal_counts_map_one_to_one() -> None:
    assert map_words(["a", "b", "c"], ["x", "y", "z"]) == [0, 1, 2]


def test_a_split_word_maps_both_halves_onto_it() -> None:
    # NFKC turned one whitespace word into two model words, or the other way round.
    assert map_words(["fi", "", "ne"], ["fine"]) == [0, 0, 0]
    assert map_words(["1", "/2", "cup"], ["1/2", "cup"]) == [0, 0, 1]


@given(
    st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=12),
    st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=12),
)
def test_mapping_is_monotone_and_in_range(model: list[str], words: list[str]) -> None:
    mapped = map_words(model, words)
    assert len(mapped) == len(model)
    assert all(0 <= m < len(words) for m in mapped)
    assert mapped == sorted(mapped)
