"""The units a request is decoded in: sentences of its texts (and of both sides of an
aligned pair), and the plain paragraphs of a markup text. Errors are the API's own."""

from __future__ import annotations

from dataclasses import dataclass

from service.api.errors import ApiError
from service.inference.translation import Translation
from service.text.document import DocumentTranslation, join_units, unit_links
from service.text.markup import MarkupDocument, MarkupError, UnitTranslation, parse_markup
from service.text.sentences import split_long, split_sentences
from service.text.words import Span, whitespace_lines


@dataclass(frozen=True)
class Segmented:
    """The sentences of a request's texts, flattened: what the scheduler decodes."""

    spans: list[list[Span]]  # per text, its sentences' character offsets
    sentences: list[str]
    labels: list[str]  # how an error names each sentence

    @classmethod
    def of(cls, texts: list[str], spans: list[list[Span]], kind: str) -> Segmented:
        sentences, labels = [], []
        for n, (text, text_spans) in enumerate(zip(texts, spans, strict=True)):
            for k, (start, end) in enumerate(text_spans):
                sentences.append(text[start:end])
                labels.append(_label(kind, n, k, text[start:end], len(text_spans)))
        return cls(spans, sentences, labels)

    def regroup(self, results: list[Translation]) -> list[list[Translation]]:
        grouped, start = [], 0
        for spans in self.spans:
            grouped.append(results[start : start + len(spans)])
            start += len(spans)
        return grouped


def _label(kind: str, n: int, k: int, sentence: str, count: int) -> str:
    """``text 2`` for a text of one sentence, else ``text 2, sentence 3 ("In the ...")``."""
    if count == 1:
        return f"{kind} {n}"
    words = sentence.split()
    preview = " ".join(words[:6]) + (" ..." if len(words) > 6 else "")
    return f'{kind} {n}, sentence {k} ("{preview}")'


def _whole(text: str) -> list[Span]:
    """The text as one unit, without its outer whitespace."""
    return [(len(text) - len(text.lstrip()), len(text.rstrip()))]


def segment(
    texts: list[str], lang: str, limit: int, kind: str = "text", max_words: int = 0
) -> Segmented:
    """Split every text into sentences, and those over ``max_words`` words at clause marks
    (0: never); refuse more sentences than the queue holds (413)."""
    spans = [
        split_long(text, split_sentences(text, lang), max_words)
        or (_whole(text) if text.strip() else [])
        for text in texts
    ]
    segmented = Segmented.of(texts, spans, kind)
    if len(segmented.sentences) > limit:
        raise ApiError(
            413,
            "too_many_sentences",
            f"the {kind}s have {len(segmented.sentences)} sentences; at most {limit} per request",
        )
    return segmented


def pair_sentences(
    pairs: list[tuple[str, str]], languages: tuple[str, str], limit: int
) -> tuple[Segmented, Segmented, list[str]]:
    """Sentences of both sides, paired one to one where the segmenter finds as many on each
    side; otherwise the pair is aligned as one unit (``whole``)."""
    source_texts, target_texts = [s for s, _ in pairs], [t for _, t in pairs]
    sources = segment(source_texts, languages[0], limit, "source")
    targets = segment(target_texts, languages[1], limit, "target")
    pairing = [
        "sentences" if len(s) == len(t) else "whole"
        for s, t in zip(sources.spans, targets.spans, strict=True)
    ]
    if "whole" in pairing:
        sources, targets = (
            Segmented.of(
                texts,
                [
                    spans if how == "sentences" else _whole(text)
                    for text, spans, how in zip(texts, side.spans, pairing, strict=True)
                ],
                kind,
            )
            for texts, side, kind in (
                (source_texts, sources, "source"),
                (target_texts, targets, "target"),
            )
        )
    return sources, targets, pairing


@dataclass(frozen=True)
class MarkupText:
    """A markup text as the model sees it: its units as paragraphs of one plain text."""

    document: MarkupDocument
    plain: str
    ranges: list[Span]  # each unit's offsets in ``plain``

    def render(self, translation: DocumentTranslation, targets: list[Span]) -> str:
        """The markup with each unit's text replaced by the text at ``targets`` in
        ``translation.text``, its tags placed through the word links."""
        units = [
            UnitTranslation(text, links)
            for text, links in unit_links(translation, self.ranges, targets)
        ]
        return self.document.render(units)


def parse(text: str, text_format: str) -> MarkupText:
    """Parse a markup text (400 ``invalid_markup`` when it cannot be read)."""
    if text_format not in ("html", "xml"):
        raise ApiError(
            400, "unsupported_format", f"format must be text, html or xml, not {text_format!r}"
        )
    try:
        document = parse_markup(text, "html" if text_format == "html" else "xml")
    except MarkupError as error:
        raise ApiError(
            400, "invalid_markup", f"the {text_format} cannot be read: {error}"
        ) from error
    plain, ranges = join_units(document.units)
    return MarkupText(document, plain, ranges)


def paragraphs(target: str, units: int) -> list[Span]:
    """Where each unit's text is in a plain target: the whole text for one unit, else one
    line each (422 when the counts differ)."""
    if units <= 1:
        return _whole(target)[:units]
    lines = whitespace_lines(target)
    if len(lines) != units:
        raise ApiError(
            422,
            "unit_count_mismatch",
            f"the source markup has {units} blocks but the target has {len(lines)} "
            "non-empty lines; give one line per block",
        )
    return lines
