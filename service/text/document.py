"""A text translated sentence by sentence and joined back, with offsets and word links.

The model was trained on single verses and degrades on long inputs (the paper's Figure 2),
so a text is split into sentences (:mod:`service.text.sentences`), each sentence is decoded
as its own row, and the translations are joined with the text's own whitespace between
them: spaces, newlines and blank lines come back where they were.

The word level covers the whole text: the whitespace words of the source and of the
translation, each with its ``[start, end)`` character offsets, and word links that never
join two sentences. The matrices stay per sentence (a sentence's piece attention, its word
attention over its own words plus ``</s>``): a block-diagonal matrix over a whole document
would grow with the square of its length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from service.inference.alignment import EOS, format_pharaoh
from service.inference.translation import Alternative, Candidate, Translation
from service.text.words import Span, map_words, pool_words, whitespace_words

Link = tuple[int, int]


@dataclass(frozen=True)
class SentenceTranslation:
    """One sentence of a document: where it is on both sides and its own translation."""

    source_span: Span  # character offsets into the document's source text
    target_span: Span  # ... and into its translation
    translation: Translation  # the sentence alone: pieces, matrices, score
    source_words: Span  # its words' index range in DocumentTranslation.source_words
    target_words: Span
    word_attention: np.ndarray  # (target words + 1, source words + 1), last row/col </s>
    head_words: np.ndarray | None  # the alignment head's, pooled the same way


@dataclass(frozen=True)
class DocumentTranslation:
    source: str
    text: str
    score: float  # length-normalized log-probability over all sentences
    alternatives: list[Alternative]
    sentences: list[SentenceTranslation]
    source_words: list[str]  # whitespace words of the source, then "</s>"
    target_words: list[str]
    source_spans: list[Span | None]  # character offsets of each word; None for "</s>"
    target_spans: list[Span | None]
    links: list[Link]  # (source word, target word) over the lists above, sorted
    pairing: str = "sentences"  # align: "sentences" paired one to one, or "whole" text

    @property
    def pharaoh(self) -> str:
        return format_pharaoh(self.links)

    @property
    def pharaoh_source(self) -> str:
        return self.sentences[0].translation.pharaoh_source if self.sentences else "attention"

    @property
    def link_rule(self) -> str:
        return self.sentences[0].translation.link_rule if self.sentences else "argmax"

    @property
    def source_tokens(self) -> list[str]:
        """Every sentence's pieces in order, each sentence ending with its ``</s>``."""
        return [p for s in self.sentences for p in s.translation.source_tokens]

    @property
    def target_tokens(self) -> list[str]:
        return [p for s in self.sentences for p in s.translation.target_tokens]

    def covering_links(self) -> list[Link]:
        """:attr:`links`, plus, for every source word they leave out, its best target word
        in its sentence's matrix (the alignment head's where there is one). Markup placed
        through these never leaves an element without words for want of a link."""
        linked = {i for i, _ in self.links}
        extra = []
        for sentence in self.sentences:
            matrix = sentence.word_attention if sentence.head_words is None else sentence.head_words
            (s0, s1), (t0, t1) = sentence.source_words, sentence.target_words
            if t1 == t0:
                continue
            for i in range(s0, s1):
                if i not in linked:
                    extra.append((i, t0 + int(np.argmax(matrix[: t1 - t0, i - s0]))))
        return sorted({*self.links, *extra})

    @property
    def token_scores(self) -> np.ndarray | None:
        """Log-probability of each of :attr:`target_tokens` (aligned pairs only)."""
        scores = [s.translation.token_scores for s in self.sentences]
        if any(score is None for score in scores):
            return None
        return np.concatenate([score for score in scores if score is not None])

    @property
    def candidates(self) -> list[list[Candidate]] | None:
        """Per piece of :attr:`target_tokens`, the best pieces of its step (when asked)."""
        steps = [s.translation.candidates for s in self.sentences]
        if any(step is None for step in steps):
            return None
        return [c for step in steps if step is not None for c in step]


def join_text(source: str, spans: Sequence[Span], parts: Sequence[str]) -> tuple[str, list[Span]]:
    """``source`` with each span replaced by its part: the text before the first span,
    between spans and after the last is kept as it was. Returns the new text and the
    offsets of each part in it."""
    pieces, offsets, position, cursor = [], [], 0, 0
    for (start, end), part in zip(spans, parts, strict=True):
        gap = source[cursor:start]
        pieces.append(gap)
        position += len(gap)
        offsets.append((position, position + len(part)))
        pieces.append(part)
        position += len(part)
        cursor = end
    pieces.append(source[cursor:])
    return "".join(pieces), offsets


def parse_links(pharaoh: str) -> list[Link]:
    links = []
    for item in pharaoh.split():
        i, _, j = item.partition("-")
        links.append((int(i), int(j)))
    return links


def _weighted_score(scores: Sequence[float], weights: Sequence[int]) -> float:
    total = sum(weights)
    if total == 0:
        return float(np.mean(scores)) if scores else 0.0
    return float(sum(s * w for s, w in zip(scores, weights, strict=True)) / total)


def assemble(
    source: str,
    source_spans: Sequence[Span],
    target: str,
    target_spans: Sequence[Span],
    translations: Sequence[Translation],
    alternatives: Sequence[Alternative] = (),
    pairing: str = "sentences",
) -> DocumentTranslation:
    """The document made of sentence translations whose offsets are known on both sides."""
    sentences: list[SentenceTranslation] = []
    source_words: list[str] = []
    target_words: list[str] = []
    source_offsets: list[Span | None] = []
    target_offsets: list[Span | None] = []
    links: list[Link] = []
    for source_span, target_span, translation in zip(
        source_spans, target_spans, translations, strict=True
    ):
        s_spans = whitespace_words(source, *source_span)
        t_spans = whitespace_words(target, *target_span)
        s_words = [source[a:b] for a, b in s_spans]
        t_words = [target[a:b] for a, b in t_spans]
        s_map = map_words(translation.words.source[:-1], s_words)
        t_map = map_words(translation.words.target[:-1], t_words)
        s_base, t_base = len(source_words), len(target_words)
        links.extend(
            (s_base + s_map[i], t_base + t_map[j])
            for i, j in parse_links(translation.pharaoh)
            if i < len(s_map) and j < len(t_map)
        )
        head = translation.head_words
        sentences.append(
            SentenceTranslation(
                source_span=(source_span[0], source_span[1]),
                target_span=(target_span[0], target_span[1]),
                translation=translation,
                source_words=(s_base, s_base + len(s_words)),
                target_words=(t_base, t_base + len(t_words)),
                word_attention=pool_words(
                    translation.words.attention, s_map, t_map, len(s_words), len(t_words)
                ),
                head_words=None
                if head is None
                else pool_words(head.attention, s_map, t_map, len(s_words), len(t_words)),
            )
        )
        source_words.extend(s_words)
        target_words.extend(t_words)
        source_offsets.extend(s_spans)
        target_offsets.extend(t_spans)
    return DocumentTranslation(
        source=source,
        text=target,
        score=_weighted_score(
            [t.score for t in translations], [len(t.target_tokens) for t in translations]
        ),
        alternatives=list(alternatives),
        sentences=sentences,
        source_words=[*source_words, EOS],
        target_words=[*target_words, EOS],
        source_spans=[*source_offsets, None],
        target_spans=[*target_offsets, None],
        links=sorted(set(links)),
        pairing=pairing,
    )


def join_translations(
    source: str, spans: Sequence[Span], translations: Sequence[Translation]
) -> DocumentTranslation:
    """A translated document: the sentence translations joined with the source's own
    whitespace. Alternative k joins each sentence's k-th alternative (its best where it has
    fewer)."""
    text, target_spans = join_text(source, spans, [t.text for t in translations])
    n_alternatives = max((len(t.alternatives) for t in translations), default=0)
    alternatives = []
    for k in range(n_alternatives):
        chosen = [
            t.alternatives[k] if k < len(t.alternatives) else Alternative(t.text, t.score)
            for t in translations
        ]
        alternative_text, _ = join_text(source, spans, [a.text for a in chosen])
        score = _weighted_score(
            [a.score for a in chosen], [len(t.target_tokens) for t in translations]
        )
        alternatives.append(Alternative(alternative_text, score))
    return assemble(source, spans, text, target_spans, translations, alternatives)


UNIT_SEPARATOR = "\n\n"  # between the translation units of a markup text


def join_units(units: Sequence[str]) -> tuple[str, list[Span]]:
    """The plain text of a markup document: its units, one paragraph each, and where each
    unit is in it. Sentences never cross a line break, so none crosses two units."""
    ranges, position = [], 0
    for unit in units:
        ranges.append((position, position + len(unit)))
        position += len(unit) + len(UNIT_SEPARATOR)
    return UNIT_SEPARATOR.join(units), ranges


def target_ranges(document: DocumentTranslation, source_ranges: Sequence[Span]) -> list[Span]:
    """Where the translation of each source range (a markup unit) is: from its first
    sentence's translation to its last one's."""
    ranges = []
    for start, end in source_ranges:
        inside = [s.target_span for s in document.sentences if start <= s.source_span[0] < end]
        ranges.append((inside[0][0], inside[-1][1]) if inside else (0, 0))
    return ranges


def unit_links(
    document: DocumentTranslation, source_ranges: Sequence[Span], target_spans: Sequence[Span]
) -> list[tuple[str, list[Link]]]:
    """For each unit (its range in the source and in the translation), its translated text
    and its word links (:meth:`DocumentTranslation.covering_links`), re-indexed over the
    unit's own whitespace words."""

    def words_in(spans: Sequence[Span | None], start: int, end: int) -> range:
        inside = [n for n, s in enumerate(spans) if s is not None and start <= s[0] < end]
        return range(inside[0], inside[-1] + 1) if inside else range(0)

    covering = document.covering_links()
    result = []
    for (s0, s1), (t0, t1) in zip(source_ranges, target_spans, strict=True):
        source_words = words_in(document.source_spans, s0, s1)
        target_words = words_in(document.target_spans, t0, t1)
        links = [
            (i - source_words.start, j - target_words.start)
            for i, j in covering
            if i in source_words and j in target_words
        ]
        result.append((document.text[t0:t1], links))
    return result
