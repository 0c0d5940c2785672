"""Word-level attention and hard word alignments from subword attention.

The model attends over SentencePiece pieces; people read words. A piece that starts with
``▁`` (U+2581) begins a new word, any other piece continues the previous one, and the
end-of-sentence token ``</s>`` is a word of its own. Pure numpy: no HTTP, no settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "EOS",
    "LINK_RULES",
    "WORD_BOUNDARY",
    "WordAlignment",
    "aggregate_to_words",
    "pharaoh",
    "word_links",
    "word_spans",
    "word_strings",
]

WORD_BOUNDARY = "\u2581"
EOS = "</s>"


@dataclass(frozen=True)
class WordAlignment:
    """Attention between words: ``attention`` has shape (len(target), len(source))."""

    source: list[str]
    target: list[str]
    attention: np.ndarray


def word_spans(pieces: Sequence[str]) -> list[tuple[int, int]]:
    """The ``[start, end)`` piece range of each word, in order.

    The first piece always starts a word; ``</s>`` is always a word of its own.
    """
    spans: list[tuple[int, int]] = []
    for i, piece in enumerate(pieces):
        continues = (
            spans and piece != EOS and not piece.startswith(WORD_BOUNDARY) and pieces[i - 1] != EOS
        )
        if continues:
            start, _ = spans[-1]
            spans[-1] = (start, i + 1)
        else:
            spans.append((i, i + 1))
    return spans


def word_strings(pieces: Sequence[str], spans: Sequence[tuple[int, int]]) -> list[str]:
    """The text of each word: its pieces joined with ``▁`` removed (``</s>`` stays ``</s>``)."""
    return ["".join(pieces[start:end]).replace(WORD_BOUNDARY, "") for start, end in spans]


def _pool(
    matrix: np.ndarray, spans: Sequence[tuple[int, int]], axis: int, mean: bool
) -> np.ndarray:
    """Sum (or average) ``matrix`` over each span along ``axis``."""
    shape = list(matrix.shape)
    shape[axis] = len(spans)
    if not spans or 0 in matrix.shape:
        return np.zeros(shape, dtype=matrix.dtype)
    starts = [start for start, _ in spans]
    pooled = np.add.reduceat(matrix, starts, axis=axis)
    if mean:
        lengths = np.array([end - start for start, end in spans], dtype=matrix.dtype)
        pooled = pooled / np.expand_dims(lengths, axis=1 - axis)
    return pooled


def aggregate_to_words(
    attention: np.ndarray, source_pieces: Sequence[str], target_pieces: Sequence[str]
) -> WordAlignment:
    """Turn piece attention (n_target_pieces, n_source_pieces) into word attention.

    Source pieces of a word are summed (the word gets all the mass its pieces got) and
    target pieces of a word are averaged, so every row of the resulting
    (n_target_words, n_source_words) matrix still sums to 1.
    """
    matrix = np.asarray(attention, dtype=np.float64)
    expected = (len(target_pieces), len(source_pieces))
    if matrix.ndim != 2 or matrix.shape != expected:
        raise ValueError(
            f"attention has shape {matrix.shape}; expected (len(target_pieces), "
            f"len(source_pieces)) = {expected}"
        )
    source_spans = word_spans(source_pieces)
    target_spans = word_spans(target_pieces)
    by_source_word = _pool(matrix, source_spans, axis=1, mean=False)
    by_word = _pool(by_source_word, target_spans, axis=0, mean=True)
    return WordAlignment(
        source=word_strings(source_pieces, source_spans),
        target=word_strings(target_pieces, target_spans),
        attention=by_word,
    )


LINK_RULES = ("argmax", "intersection", "threshold")
DEFAULT_THRESHOLD = 0.4


def word_links(
    word_attention: np.ndarray,
    source_words: Sequence[str],
    target_words: Sequence[str],
    rule: str = "argmax",
    threshold: float = DEFAULT_THRESHOLD,
) -> list[tuple[int, int]]:
    """Hard links ``(source i, target j)`` read off a (target words x source words) matrix.

    ``argmax``: each target word to the source word it gives most weight (ties to the lowest
    index). ``intersection``: the argmax links that are also the best target word of their
    source word (fewer, surer links). ``threshold``: every pair with weight >= ``threshold``.
    ``</s>`` never appears on either side. Sorted by (i, j).
    """
    if rule not in LINK_RULES:
        raise ValueError(f"rule must be one of {LINK_RULES}, not {rule!r}")
    matrix = np.asarray(word_attention)
    expected = (len(target_words), len(source_words))
    if matrix.ndim != 2 or matrix.shape != expected:
        raise ValueError(
            f"word_attention has shape {matrix.shape}; expected (len(target_words), "
            f"len(source_words)) = {expected}"
        )
    source_columns = [i for i, word in enumerate(source_words) if word != EOS]
    target_rows = [j for j, word in enumerate(target_words) if word != EOS]
    if not source_columns or not target_rows:
        return []
    inner = matrix[np.ix_(target_rows, source_columns)]
    if rule == "threshold":
        rows, columns = np.nonzero(inner >= threshold)
        return sorted(
            (source_columns[int(c)], target_rows[int(r)])
            for r, c in zip(rows, columns, strict=True)
        )
    best_source = np.argmax(inner, axis=1)
    links = [(source_columns[int(b)], j) for j, b in zip(target_rows, best_source, strict=True)]
    if rule == "intersection":
        best_target = np.argmax(inner, axis=0)
        links = [
            (i, j)
            for (i, j), c in zip(links, best_source, strict=True)
            if target_rows[int(best_target[int(c)])] == j
        ]
    return sorted(links)


def format_pharaoh(links: Sequence[tuple[int, int]]) -> str:
    return " ".join(f"{i}-{j}" for i, j in links)


def pharaoh(
    word_attention: np.ndarray,
    source_words: Sequence[str],
    target_words: Sequence[str],
    rule: str = "argmax",
    threshold: float = DEFAULT_THRESHOLD,
) -> str:
    """Hard alignments as Pharaoh ``"i-j"`` pairs (source i, target j; 0-based), by
    :func:`word_links`; with the default ``argmax`` rule every target word other than
    ``</s>`` is aligned to exactly one source word."""
    return format_pharaoh(word_links(word_attention, source_words, target_words, rule, threshold))
