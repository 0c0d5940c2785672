"""From validated texts to stored translations: the steps every translate route shares.

POST /v1/translate, POST /v1/align and the LibreTranslate-compatible POST /translate differ
only in how they read the request and write the answer; limits, batching, counting and
storing are here.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Request

from service.api.deps import enforce_rate_limit
from service.api.disconnect import ClientDisconnected, unless_disconnected
from service.api.documents import alignment_document, model_info
from service.api.errors import ApiError
from service.inference.search import SearchOptions
from service.inference.translator import AlignOptions, DecodeRequest, LinkPolicy, Translation
from service.runtime_state import ServiceState
from service.storage import StorageStatus
from service.text.document import (
    DocumentTranslation,
    assemble,
    join_translations,
    join_units,
    target_ranges,
    unit_links,
)
from service.text.markup import MarkupDocument, MarkupError, UnitTranslation, parse_markup
from service.text.sentences import split_sentences
from service.text.words import Span, whitespace_lines

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranslatedBatch:
    model: dict[str, str]
    translations: list[DocumentTranslation]  # one per text, joined from its sentences
    documents: list[dict[str, Any]]  # one alignment document per translation, same order
    statuses: list[StorageStatus]  # what became of each document: stored, pending, dropped
    # format html or xml: the translated (or, for align, placed) markup of each text
    markup: list[str] | None = None

    @property
    def texts(self) -> list[str]:
        """What each text became: the translated markup, or the plain translation."""
        return self.markup if self.markup is not None else [t.text for t in self.translations]


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


def check_languages(state: ServiceState, source_lang: str | None, target_lang: str | None) -> None:
    """Refuse a language pair other than the model's (None means the model's own)."""
    assert state.translator is not None
    artifact = state.translator.artifact
    for field, given, expected in (
        ("source_lang", source_lang, artifact.source_lang),
        ("target_lang", target_lang, artifact.target_lang),
    ):
        if given is not None and given != expected:
            raise ApiError(
                422,
                "unsupported_language",
                f"{field} {given!r} is not served; this model translates "
                f"{artifact.source_lang} to {artifact.target_lang}",
            )


def check_sizes(state: ServiceState, texts: list[str], what: str = "text") -> None:
    """Refuse too many texts or too long a text (413), before any tokenizing."""
    settings = state.settings
    if len(texts) > settings.max_texts:
        raise ApiError(
            413,
            "too_many_texts",
            f"{len(texts)} texts given; at most {settings.max_texts} per request",
        )
    for n, text in enumerate(texts):
        if len(text) > settings.max_chars:
            raise ApiError(
                413,
                "text_too_long",
                f"{what} {n} has {len(text)} characters; the limit is {settings.max_chars}",
            )


async def _decode(
    state: ServiceState, http_request: Request, items: list[Any], options: Any
) -> list[Translation]:
    """Through the step scheduler; a client that leaves takes its texts out of the queue
    and its rows out of the running batch."""
    assert state.scheduler is not None
    try:
        return await unless_disconnected(
            http_request, state.scheduler.submit(DecodeRequest(items, options))
        )
    except ClientDisconnected:
        state.metrics.cancelled.inc()
        raise


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


def segment(state: ServiceState, texts: list[str], lang: str, kind: str = "text") -> Segmented:
    """Split every text into sentences; refuse more sentences than the queue holds (413)."""
    segmented = Segmented.of(
        texts,
        [split_sentences(text, lang) or (_whole(text) if text.strip() else []) for text in texts],
        kind,
    )
    limit = state.settings.max_queue
    if len(segmented.sentences) > limit:
        raise ApiError(
            413,
            "too_many_sentences",
            f"the {kind}s have {len(segmented.sentences)} sentences; at most {limit} per request",
        )
    return segmented


def _relinked(
    translations: list[Translation], link_rule: str | None, state: ServiceState
) -> list[Translation]:
    if link_rule is None:
        return translations
    assert state.translator is not None
    policy = LinkPolicy(link_rule, state.translator.link_policy.threshold)
    return [t.relinked(policy) for t in translations]


async def _store_documents(
    state: ServiceState,
    translations: list[DocumentTranslation],
    options: SearchOptions | AlignOptions,
) -> TranslatedBatch:
    """Count and hand one alignment document per translation to the write-behind buffer."""
    assert state.writer is not None
    state.metrics.target_tokens.inc(sum(len(t.target_tokens) for t in translations))
    model = model_info(state)
    documents = [alignment_document(uuid.uuid4().hex, t, model, options) for t in translations]
    statuses = await state.writer.submit(documents)
    if StorageStatus.dropped in statuses:
        log.warning("alignment documents dropped: the write buffer is full")
    return TranslatedBatch(model, translations, documents, statuses)


async def translate_and_store(
    state: ServiceState,
    http_request: Request,
    texts: list[str],
    beam_size: int | None,
    n_best: int,
    link_rule: str | None = None,
    candidates: int = 0,
    text_format: str = "text",
) -> TranslatedBatch:
    """Check the rate and size limits, split the texts into sentences, decode every
    sentence as its own row through the scheduler, join each text back and store one
    document per text."""
    settings = state.settings
    translator = state.translator
    assert translator is not None
    await enforce_rate_limit(http_request, state, len(texts))
    check_sizes(state, texts)
    markup = [parse(text, text_format) for text in texts] if text_format != "text" else None
    if markup is not None:
        texts = [m.plain for m in markup]
    beam_size = beam_size or settings.default_beam_size
    if beam_size > settings.max_beam_size:
        raise ApiError(
            422, "invalid_beam_size", f"beam_size must be between 1 and {settings.max_beam_size}"
        )
    if n_best > beam_size:
        raise ApiError(
            422, "invalid_n_best", f"n_best must be between 1 and beam_size ({beam_size})"
        )
    options = state.search_options(beam_size, n_best, candidates)
    segmented = segment(state, texts, translator.artifact.source_lang)
    # Refuses an over-long sentence, naming it, before queueing.
    sources = translator.encode_sources(segmented.sentences, segmented.labels)
    state.metrics.source_tokens.inc(sum(len(s.ids) for s in sources))
    results = await _decode(state, http_request, segmented.sentences, options)
    state.metrics.source_characters.inc(sum(len(text) for text in texts))
    results = _relinked(results, link_rule, state)
    documents = [
        join_translations(text, spans, group)
        for text, spans, group in zip(
            texts, segmented.spans, segmented.regroup(results), strict=True
        )
    ]
    batch = await _store_documents(state, documents, options)
    if markup is None:
        return batch
    rendered = [
        m.render(document, target_ranges(document, m.ranges))
        for m, document in zip(markup, documents, strict=True)
    ]
    return replace(batch, markup=rendered)


def _pair_sentences(
    state: ServiceState, pairs: list[tuple[str, str]]
) -> tuple[Segmented, Segmented, list[str]]:
    """Sentences of both sides, paired one to one where the segmenter finds as many on each
    side; otherwise the pair is aligned as one unit (``whole``)."""
    assert state.translator is not None
    artifact = state.translator.artifact
    source_texts, target_texts = [s for s, _ in pairs], [t for _, t in pairs]
    sources = segment(state, source_texts, artifact.source_lang, "source")
    targets = segment(state, target_texts, artifact.target_lang, "target")
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


def _paragraphs(target: str, units: int) -> list[Span]:
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


async def align_and_store(
    state: ServiceState,
    http_request: Request,
    pairs: list[tuple[str, str]],
    link_rule: str | None = None,
    text_format: str = "text",
) -> TranslatedBatch:
    """Check the rate limit and the limits of both sides, pair the sentences of each side,
    run the teacher-forced pass through the scheduler and store one document per pair.
    With markup on the source side, the answer places it on each given target."""
    translator = state.translator
    assert translator is not None
    await enforce_rate_limit(http_request, state, len(pairs))
    check_sizes(state, [source for source, _ in pairs], "source")
    check_sizes(state, [target for _, target in pairs], "target")
    markup = None
    if text_format != "text":
        markup = [parse(source, text_format) for source, _ in pairs]
        placements = [
            _paragraphs(target, len(m.ranges)) for m, (_, target) in zip(markup, pairs, strict=True)
        ]
        pairs = [(m.plain, target) for m, (_, target) in zip(markup, pairs, strict=True)]
    sources, targets, pairing = _pair_sentences(state, pairs)
    encoded = translator.encode_sources(sources.sentences, sources.labels)
    translator.encode_targets(targets.sentences, targets.labels)  # refuses over-long targets
    state.metrics.source_tokens.inc(sum(len(s.ids) for s in encoded))
    options = AlignOptions(length_penalty=state.settings.length_penalty)
    items = list(zip(sources.sentences, targets.sentences, strict=True))
    results = _relinked(await _decode(state, http_request, items, options), link_rule, state)
    documents = [
        assemble(source, s_spans, target, t_spans, group, pairing=how)
        for (source, target), s_spans, t_spans, group, how in zip(
            pairs, sources.spans, targets.spans, sources.regroup(results), pairing, strict=True
        )
    ]
    batch = await _store_documents(state, documents, options)
    if markup is None:
        return batch
    placed = [
        m.render(document, spans)
        for m, document, spans in zip(markup, documents, placements, strict=True)
    ]
    return replace(batch, markup=placed)
