"""Whitespace words with character offsets, and how the model's words map onto them.

The API's word level is the whitespace words of the text the client sent (and of the
translation it got), so that a page can highlight them by offset. The model's words come
from SentencePiece pieces, which normalize the text (NFKC) first: almost always the same
words, but not always as many. :func:`map_words` places each model word on the whitespace
word that holds it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

Span = tuple[int, int]

_WORD = re.compile(r"\S+")
_LINE = re.compile(r"\S(?:[^\n]*\S)?")


def whitespace_words(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """``[start, end)`` offsets of the whitespace-separated words of ``text[start:end]``,
    as offsets into ``text``."""
    stop = len(text) if end is None else end
    return [match.span() for match in _WORD.finditer(text, start, stop)]


def whitespace_lines(text: str) -> list[Span]:
    """``[start, end)`` of each line of ``text`` that has a word, without its outer
    whitespace."""
    return [match.span() for match in _LINE.finditer(text)]


def map_words(model_words: Sequence[str], words: Sequence[str]) -> list[int]:
    """For each model word, the index of the whitespace word that holds it.

    Equal counts map one to one. Otherwise both word lists are laid end to end as
    characters and each model word goes to the whitespace word under its middle character,
    scaled to the other list's length: monotone, and every model word lands somewhere."""
    if not words:
        return [0] * len(model_words)
    if len(model_words) == len(words):
        return list(range(len(words)))
    ends: list[int] = []
    total = 0
    for word in words:
        total += len(word)
        ends.append(total)
    model_total = sum(len(word) for word in model_words) or 1
    mapped, position = [], 0
    for word in model_words:
        middle = (position + len(word) / 2) * total / model_total
        position += len(word)
        index = next((n for n, end in enumerate(ends) if middle < end), len(words) - 1)
        mapped.append(index)
    return mapped


def pool_words(
    matrix: np.ndarray, source_map: list[int], target_map: list[int], n_source: int, n_target: int
) -> np.ndarray:
    """A (model target words x model source words) matrix, both ending with ``</s>``,
    pooled onto other words of the same texts: ``source_map`` and ``target_map`` from
    :func:`map_words`, ``n_source`` and ``n_target`` words without ``</s>``. Columns of one
    word are summed, rows of one word averaged, the ``</s>`` row and column kept last, so
    rows still sum to 1."""
    columns = [*source_map, n_source]
    rows = [*target_map, n_target]
    if columns == list(range(n_source + 1)) and rows == list(range(n_target + 1)):
        return matrix
    by_column = np.zeros((matrix.shape[0], n_source + 1))
    np.add.at(by_column.T, columns, matrix.T)
    pooled = np.zeros((n_target + 1, n_source + 1))
    np.add.at(pooled, rows, by_column)
    counts = np.bincount(rows, minlength=n_target + 1).astype(np.float64)
    covered = counts > 0
    pooled[covered] /= counts[covered, None]
    pooled[~covered, n_source] = 1.0  # a word no model word landed on attends to </s>
    return pooled
