"""Word spans, word-level attention and Pharaoh alignments from subword attention."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from service.inference.alignment import (
    EOS,
    WordAlignment,
    aggregate_to_words,
    pharaoh,
    word_spans,
    word_strings,
)

# --- word_spans / word_strings ----------------------------------------------------------------


def test_word_spans_groups_continuation_pieces() -> None:
    pieces = ["▁The", "▁agree", "ment", "▁was", "▁sign", "ed", ".", EOS]
    assert word_spans(pieces) == [(0, 1), (1, 3), (3, 4), (4, 7), (7, 8)]


def test_first_piece_starts_a_word_without_the_boundary_mark() -> None:
    assert word_spans(["agree", "ment", "▁signed", EOS]) == [(0, 2), (2, 3), (3, 4)]


def test_end_of_sentence_is_its_own_word_even_without_the_boundary_mark() -> None:
    assert word_spans(["▁hola", EOS]) == [(0, 1), (1, 2)]
    assert word_spans([EOS]) == [(0, 1)]
    assert word_spans([]) == []


def test_word_strings_join_pieces_and_drop_the_boundary_mark() -> None:
    pieces = ["▁The", "▁agree", "ment", "▁", "«", "ok", EOS]
    assert word_strings(pieces, word_spans(pieces)) == ["The", "agreement", "«ok", EOS]


# --- aggregate_to_words: examples -------------------------------------------------------------


def test_aggregate_sums_source_pieces_and_averages_target_pieces() -> None:
    source = ["▁agree", "ment", "▁signed", EOS]
    target = ["▁acuer", "do", "▁firmado", EOS]
    attention = np.array(
        [
            [0.5, 0.3, 0.1, 0.1],
            [0.1, 0.7, 0.1, 0.1],
            [0.0, 0.0, 0.9, 0.1],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    words = aggregate_to_words(attention, source, target)
    assert isinstance(words, WordAlignment)
    assert words.source == ["agreement", "signed", EOS]
    assert words.target == ["acuerdo", "firmado", EOS]
    np.testing.assert_allclose(
        words.attention,
        [
            [0.8, 0.1, 0.1],
            [0.0, 0.9, 0.1],
            [0.0, 0.0, 1.0],
        ],
    )


def test_aggregate_refuses_a_matrix_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"expected \(len\(target_pieces\)"):
        aggregate_to_words(np.full((2, 3), 1 / 3), ["▁a", EOS], ["▁b", EOS])
    with pytest.raises(ValueError, match="shape"):
        aggregate_to_words(np.ones(2), ["▁a", EOS], ["▁b", EOS])


def test_word_alignment_is_frozen() -> None:
    words = aggregate_to_words(np.eye(2), ["▁a", EOS], ["▁b", EOS])
    with pytest.raises(AttributeError):
        words.source = []  # type: ignore[misc]


# --- pharaoh: examples ------------------------------------------------------------------------


def test_pharaoh_aligns_each_target_word_to_its_best_source_word() -> None:
    source = ["the", "black", "cat", EOS]
    target = ["el", "gato", "negro", EOS]
    attention = np.array(
        [
            [0.7, 0.1, 0.1, 0.1],
            [0.1, 0.1, 0.7, 0.1],
            [0.1, 0.6, 0.2, 0.1],
            [0.0, 0.0, 0.1, 0.9],
        ]
    )
    assert pharaoh(attention, source, target) == "0-0 1-2 2-1"


def test_pharaoh_skips_source_end_of_sentence_and_breaks_ties_low() -> None:
    attention = np.array([[0.1, 0.1, 0.8], [0.4, 0.4, 0.2], [0.0, 0.0, 1.0]])
    assert pharaoh(attention, ["a", "b", EOS], ["x", "y", EOS]) == "0-0 0-1"


def test_pharaoh_is_empty_when_only_end_of_sentence_is_left() -> None:
    assert pharaoh(np.array([[1.0]]), [EOS], [EOS]) == ""
    assert pharaoh(np.array([[0.5, 0.5]]), ["a", EOS], [EOS]) == ""
    assert pharaoh(np.array([[1.0], [1.0]]), [EOS], ["x", EOS]) == ""


def test_pharaoh_refuses_a_matrix_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match="word_attention has shape"):
        pharaoh(np.ones((3, 2)), ["a", EOS], ["x", EOS])


# --- properties -------------------------------------------------------------------------------


@st.composite
def _pieces(draw: st.DrawFn, max_words: int = 6) -> list[str]:
    """Random SentencePiece pieces ending with </s>; the first may lack the boundary mark."""
    n = draw(st.integers(min_value=0, max_value=3 * max_words))
    starts = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    texts = draw(st.lists(st.sampled_from(["a", "bc", "é", "de", "«"]), min_size=n, max_size=n))
    return [("▁" if start else "") + text for start, text in zip(starts, texts, strict=True)] + [
        EOS
    ]


def _row_stochastic(rows: int, cols: int) -> st.SearchStrategy[np.ndarray]:
    """Non-negative (rows, cols) matrices whose rows sum to 1; zeros and ties included."""
    weights = arrays(np.float64, (rows, cols), elements=st.floats(0.0, 1.0))
    return weights.map(lambda w: (w + 1e-3) / (w + 1e-3).sum(axis=1, keepdims=True))


@st.composite
def _case(draw: st.DrawFn) -> tuple[np.ndarray, list[str], list[str]]:
    """Source pieces, target pieces and a row-stochastic (n_target, n_source) matrix."""
    source, target = draw(_pieces()), draw(_pieces())
    return draw(_row_stochastic(len(target), len(source))), source, target


@settings(max_examples=200, deadline=None)
@given(_case())
def test_word_matrix_keeps_rows_stochastic_and_pools_by_span(
    case: tuple[np.ndarray, list[str], list[str]],
) -> None:
    attention, source, target = case
    words = aggregate_to_words(attention, source, target)
    source_spans, target_spans = word_spans(source), word_spans(target)
    assert words.attention.shape == (len(target_spans), len(source_spans))
    assert len(words.source) == len(source_spans) and len(words.target) == len(target_spans)
    np.testing.assert_allclose(words.attention.sum(axis=1), 1.0, atol=1e-6)
    for t, (t0, t1) in enumerate(target_spans):
        piece_rows = attention[t0:t1]
        # The word row carries the mean mass of its pieces' rows.
        assert words.attention[t].sum() == pytest.approx(piece_rows.sum(axis=1).mean())
        for s, (s0, s1) in enumerate(source_spans):
            # A source word gets the sum of its pieces, averaged over the target pieces.
            expected = piece_rows[:, s0:s1].sum(axis=1).mean()
            assert words.attention[t, s] == pytest.approx(expected)
    # Every source word's total mass (over target pieces, weighted by span length) is kept.
    lengths = np.array([t1 - t0 for t0, t1 in target_spans])
    for s, (s0, s1) in enumerate(source_spans):
        total = attention[:, s0:s1].sum()
        assert (words.attention[:, s] * lengths).sum() == pytest.approx(total)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_one_piece_per_word_gives_back_the_same_matrix(data: st.DataObject) -> None:
    n_src, n_tgt = data.draw(st.integers(0, 6)), data.draw(st.integers(0, 6))
    source = [f"▁s{i}" for i in range(n_src)] + [EOS]
    target = [f"▁t{j}" for j in range(n_tgt)] + [EOS]
    attention = data.draw(_row_stochastic(n_tgt + 1, n_src + 1))
    words = aggregate_to_words(attention, source, target)
    np.testing.assert_allclose(words.attention, attention)
    assert words.source == [p.lstrip("▁") for p in source]
    assert words.target == [p.lstrip("▁") for p in target]


@settings(max_examples=200, deadline=None)
@given(_case())
def test_pharaoh_pairs_cover_each_target_word_once_and_never_eos(
    case: tuple[np.ndarray, list[str], list[str]],
) -> None:
    words = aggregate_to_words(*case)
    text = pharaoh(words.attention, words.source, words.target)
    pairs = [tuple(map(int, pair.split("-"))) for pair in text.split()]
    assert pairs == sorted(pairs)
    n_src, n_tgt = len(words.source), len(words.target)
    for i, j in pairs:
        assert 0 <= i < n_src - 1 and words.source[i] != EOS
        assert 0 <= j < n_tgt - 1 and words.target[j] != EOS
    aligned_targets = sorted(j for _, j in pairs)
    if n_src > 1:
        assert aligned_targets == list(range(n_tgt - 1))
    else:
        assert pairs == []
    for i, j in pairs:
        row = words.attention[j, : n_src - 1]
        assert i == int(np.argmax(row))
