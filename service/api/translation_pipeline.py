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
from service.api.units import Segmented, pair_sentences, paragraphs, parse, segment
from service.inference.agreement import AGREEMENT, AgreementPolicy, agreed
from service.inference.search import SearchOptions
from service.inference.translation import LinkPolicy, Translation
from service.inference.translator import AlignOptions, DecodeRequest
from service.registry import ServedModel
from service.runtime_state import ServiceState
from service.storage import StorageStatus
from service.text.document import DocumentTranslation, assemble, join_translations, target_ranges

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranslatedBatch:
    model: dict[str, str]
    translations: list[DocumentTranslation]  # one per text, joined from its sentences
    documents: list[dict[str, Any]]  # one alignment document per translation, same order
    statuses: list[StorageStatus]  # what became of each document: stored, pending, dropped
    # Detected when the source language was not given: per text, (language, 0..100).
    detections: list[tuple[str, float]] | None = None
    # format html or xml: the translated (or, for align, placed) markup of each text
    markup: list[str] | None = None

    @property
    def texts(self) -> list[str]:
        """What each text became: the translated markup, or the plain translation."""
        return self.markup if self.markup is not None else [t.text for t in self.translations]


@dataclass(frozen=True)
class ModelChoice:
    """The model a request goes to, and what was detected when its source was not given."""

    model: ServedModel
    detections: list[tuple[str, float]] | None = None  # per text: best language, 0..100


async def choose_model(
    state: ServiceState,
    texts: list[str],
    source: str | None,
    target: str | None,
    report_detection: bool = False,
) -> ModelChoice:
    """The model for ``source`` to ``target`` (None: any that fits). Without a source, the
    texts' language is detected among the sources of the models that write ``target``;
    where only one model fits, only when the caller wants the detection reported.
    Raises :class:`UnsupportedPair`."""
    if source is not None:
        return ModelChoice(state.models.find(source, target))
    candidates = state.models.sources_for(target)
    if len(candidates) <= 1 and not report_detection:
        return ModelChoice(state.models.find(None, target))
    if not candidates:
        state.models.find(None, target)  # raises, naming what is served
    identifier = await state.identifier()
    ranked = [dict(identifier.detect(text)) for text in texts]
    best = max(candidates, key=lambda lang: sum(r.get(lang, 0.0) for r in ranked))
    detections = [max(r.items(), key=lambda item: item[1]) for r in ranked]
    return ModelChoice(state.models.find(best, target), detections)


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
    state: ServiceState,
    model: ServedModel,
    http_request: Request,
    items: list[Any],
    options: Any,
    prefixes: list[str | None] | None = None,
) -> list[Translation]:
    """Through the model's step scheduler; a client that leaves takes its texts out of the
    queue and its rows out of the running batch."""
    if not items:  # markup with no text to translate
        return []
    try:
        return await unless_disconnected(
            http_request, model.scheduler.submit(DecodeRequest(items, options, prefixes))
        )
    except ClientDisconnected:
        state.metrics.cancelled.inc()
        raise


async def _agreed(
    state: ServiceState,
    model: ServedModel,
    http_request: Request,
    results: list[Translation],
    sources: list[str],
    links: str | None,
    link_rule: str | None,
    default: str,
) -> list[Translation]:
    """Forward links, or (``links`` "agreement", or by default where ``default`` says so)
    the agreement of both directions: the reverse model, when served, runs teacher-forced
    over each (translation, source) pair through its own scheduler."""
    if links == AGREEMENT and link_rule is not None:
        raise ApiError(
            422,
            "invalid_links",
            "link_rule reads one direction's matrix: omit it with links 'agreement'",
        )
    config = model.translator.artifact.config
    if links is None and not agreement_helps(config):
        links = "forward"
    if link_rule is not None or (links or default) != AGREEMENT:
        return results
    reverse = state.models.reverse_of(model)
    if reverse is None:
        if links == AGREEMENT:
            raise ApiError(
                422,
                "no_reverse_model",
                f"links 'agreement' needs a model translating {model.target_lang} to "
                f"{model.source_lang}; served: {', '.join(m.key for m in state.models)}",
            )
        return results
    pairs = [(result.text, source) for result, source in zip(results, sources, strict=True)]
    backward = await _decode(state, reverse, http_request, pairs, AlignOptions())
    policy = agreement_policy(config)
    return [agreed(f, b, policy) for f, b in zip(results, backward, strict=True)]


def agreement_helps(config: dict[str, Any]) -> bool:
    """Whether, when the model was evaluated with its reverse, the agreement of both
    directions beat the model's own links on dev (true when it was not measured)."""
    chosen = config.get("links", {}).get(AGREEMENT)
    return chosen is None or chosen.get("dev_f1", 1.0) > chosen.get("forward_dev_f1", 0.0)


def agreement_policy(config: dict[str, Any]) -> AgreementPolicy:
    """The symmetrization chosen on dev when the model was evaluated with its reverse
    (``model_config.json``: ``links.agreement``), else grow-diag-final-and."""
    chosen = config.get("links", {}).get(AGREEMENT, {})
    return AgreementPolicy(
        str(chosen.get("method", AgreementPolicy.method)),
        float(chosen.get("threshold", AgreementPolicy.threshold)),
    )


def _relinked(
    translations: list[Translation], link_rule: str | None, model: ServedModel
) -> list[Translation]:
    if link_rule is None:
        return translations
    policy = LinkPolicy(link_rule, model.translator.link_policy.threshold)
    return [t.relinked(policy) for t in translations]


async def _store_documents(
    state: ServiceState,
    choice: ModelChoice,
    translations: list[DocumentTranslation],
    options: SearchOptions | AlignOptions,
    prefixes: list[str | None] | None = None,
) -> TranslatedBatch:
    """Count and hand one alignment document per translation to the write-behind buffer
    (with the target prefix each was given, if any)."""
    assert state.writer is not None
    state.metrics.target_tokens.labels(choice.model.key).inc(
        sum(len(t.target_tokens) for t in translations)
    )
    model = model_info(choice.model)
    given = prefixes or [None] * len(translations)
    documents = [
        alignment_document(uuid.uuid4().hex, t, model, options, prefix)
        for t, prefix in zip(translations, given, strict=True)
    ]
    statuses = await state.writer.submit(documents)
    if StorageStatus.dropped in statuses:
        log.warning("alignment documents dropped: the write buffer is full")
    return TranslatedBatch(model, translations, documents, statuses, choice.detections)


def _check_search(state: ServiceState, beam_size: int | None, n_best: int) -> int:
    settings = state.settings
    beam_size = beam_size or settings.default_beam_size
    if beam_size > settings.max_beam_size:
        raise ApiError(
            422, "invalid_beam_size", f"beam_size must be between 1 and {settings.max_beam_size}"
        )
    if n_best > beam_size:
        raise ApiError(
            422, "invalid_n_best", f"n_best must be between 1 and beam_size ({beam_size})"
        )
    return beam_size


def sentence_prefixes(
    segmented: Segmented, prefixes: list[str | None]
) -> tuple[list[str | None], list[str]]:
    """Each text's prefix on its first sentence (the translation of a text starts with the
    translation of its first sentence), none on the others; and how errors name them."""
    per_sentence: list[str | None] = [None] * len(segmented.sentences)
    labels = [""] * len(segmented.sentences)
    first = 0
    for n, (spans, prefix) in enumerate(zip(segmented.spans, prefixes, strict=True)):
        if spans:
            per_sentence[first], labels[first] = prefix, f"target_prefix {n}"
        first += len(spans)
    return per_sentence, labels


async def translate_and_store(
    state: ServiceState,
    http_request: Request,
    texts: list[str],
    beam_size: int | None,
    n_best: int,
    link_rule: str | None = None,
    candidates: int = 0,
    text_format: str = "text",
    source_lang: str | None = None,
    target_lang: str | None = None,
    links: str | None = None,
    report_detection: bool = False,
    target_prefixes: list[str | None] | None = None,
) -> TranslatedBatch:
    """Check the rate and size limits, find the model for the language pair (detecting the
    source when it is not given), split the texts into sentences, decode every sentence as
    its own row through that model's scheduler (a text's first sentence from the text's
    target prefix, if given), join each text back and store one document per text."""
    await enforce_rate_limit(http_request, state, len(texts))
    check_sizes(state, texts)
    if target_prefixes is not None:
        if text_format != "text":
            raise ApiError(422, "invalid_target_prefix", "target_prefix is for format text only")
        check_sizes(state, [p or "" for p in target_prefixes], "target_prefix")
    beam_size = _check_search(state, beam_size, n_best)
    markup = [parse(text, text_format) for text in texts] if text_format != "text" else None
    if markup is not None:
        texts = [m.plain for m in markup]
    choice = await choose_model(state, texts, source_lang, target_lang, report_detection)
    model = choice.model
    options = state.search_options(beam_size, n_best, candidates)
    segmented = segment(
        texts,
        model.source_lang,
        state.settings.max_queue,
        max_words=state.settings.max_sentence_words,
    )
    # Refuses an over-long sentence, naming it, before queueing.
    sources = model.translator.encode_sources(segmented.sentences, segmented.labels)
    prefixes = None
    if target_prefixes is not None:
        prefixes, labels = sentence_prefixes(segmented, target_prefixes)
        model.translator.encode_prefixes(prefixes, sources, options, labels)  # refuses bad ones
    state.metrics.source_tokens.labels(model.key).inc(sum(len(s.ids) for s in sources))
    results = await _decode(state, model, http_request, segmented.sentences, options, prefixes)
    state.metrics.source_characters.labels(model.key).inc(sum(len(text) for text in texts))
    results = _relinked(results, link_rule, model)
    results = await _agreed(
        state,
        model,
        http_request,
        results,
        segmented.sentences,
        links,
        link_rule,
        state.settings.translate_links,
    )
    documents = [
        join_translations(text, spans, group)
        for text, spans, group in zip(
            texts, segmented.spans, segmented.regroup(results), strict=True
        )
    ]
    batch = await _store_documents(state, choice, documents, options, target_prefixes)
    if markup is None:
        return batch
    rendered = [
        m.render(document, target_ranges(document, m.ranges))
        for m, document in zip(markup, documents, strict=True)
    ]
    return replace(batch, markup=rendered)


async def align_and_store(
    state: ServiceState,
    http_request: Request,
    pairs: list[tuple[str, str]],
    link_rule: str | None = None,
    text_format: str = "text",
    source_lang: str | None = None,
    target_lang: str | None = None,
    links: str | None = None,
) -> TranslatedBatch:
    """Check the rate limit and the limits of both sides, pair the sentences of each side,
    run the teacher-forced pass through the model's scheduler and store one document per
    pair. With markup on the source side, the answer places it on each given target."""
    await enforce_rate_limit(http_request, state, len(pairs))
    check_sizes(state, [source for source, _ in pairs], "source")
    check_sizes(state, [target for _, target in pairs], "target")
    markup = None
    if text_format != "text":
        markup = [parse(source, text_format) for source, _ in pairs]
        placements = [
            paragraphs(target, len(m.ranges)) for m, (_, target) in zip(markup, pairs, strict=True)
        ]
        pairs = [(m.plain, target) for m, (_, target) in zip(markup, pairs, strict=True)]
    choice = await choose_model(state, [s for s, _ in pairs], source_lang, target_lang)
    model = choice.model
    sources, targets, pairing = pair_sentences(
        pairs, (model.source_lang, model.target_lang), state.settings.max_queue
    )
    encoded = model.translator.encode_sources(sources.sentences, sources.labels)
    model.translator.encode_targets(targets.sentences, targets.labels)  # refuses long targets
    state.metrics.source_tokens.labels(model.key).inc(sum(len(s.ids) for s in encoded))
    options = AlignOptions(length_penalty=state.settings.length_penalty)
    items = list(zip(sources.sentences, targets.sentences, strict=True))
    aligned = await _decode(state, model, http_request, items, options)
    results = _relinked(aligned, link_rule, model)
    results = await _agreed(
        state, model, http_request, results, sources.sentences, links, link_rule, AGREEMENT
    )
    documents = [
        assemble(source, s_spans, target, t_spans, group, pairing=how)
        for (source, target), s_spans, t_spans, group, how in zip(
            pairs, sources.spans, targets.spans, sources.regroup(results), pairing, strict=True
        )
    ]
    batch = await _store_documents(state, choice, documents, options)
    if markup is None:
        return batch
    placed = [
        m.render(document, spans)
        for m, document, spans in zip(markup, documents, placements, strict=True)
    ]
    return replace(batch, markup=placed)
