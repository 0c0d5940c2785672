"""From validated texts to stored translations: the steps every translate route shares.

POST /v1/translate, POST /v1/align and the LibreTranslate-compatible POST /translate differ
only in how they read the request and write the answer; limits, batching, counting and
storing are here.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
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

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranslatedBatch:
    model: dict[str, str]
    translations: list[Translation]
    documents: list[dict[str, Any]]  # one alignment document per translation, same order
    statuses: list[StorageStatus]  # what became of each document: stored, pending, dropped


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


async def _store_documents(
    state: ServiceState,
    translations: list[Translation],
    options: SearchOptions | AlignOptions,
    link_rule: str | None,
) -> TranslatedBatch:
    """Relink if asked, count, and hand one alignment document per translation to the
    write-behind buffer."""
    assert state.translator is not None and state.writer is not None
    if link_rule is not None:
        policy = LinkPolicy(link_rule, state.translator.link_policy.threshold)
        translations = [t.relinked(policy) for t in translations]
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
    """Check the rate and size limits, decode through the scheduler and store one document
    per text. ``text_format`` is "text"; "html" and "xml" (markup kept around the
    translated words) are refused until markup handling lands."""
    settings = state.settings
    translator = state.translator
    assert translator is not None
    if text_format != "text":
        raise ApiError(
            400, "unsupported_format", f"text_format {text_format!r} is not supported yet"
        )
    await enforce_rate_limit(http_request, state, len(texts))
    check_sizes(state, texts)
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
    sources = translator.encode_sources(texts)  # refuses over-long inputs before queueing
    state.metrics.source_tokens.inc(sum(len(s.ids) for s in sources))
    translations = await _decode(state, http_request, texts, options)
    state.metrics.source_characters.inc(sum(len(text) for text in texts))
    return await _store_documents(state, translations, options, link_rule)


async def align_and_store(
    state: ServiceState,
    http_request: Request,
    pairs: list[tuple[str, str]],
    link_rule: str | None = None,
) -> TranslatedBatch:
    """Check the rate limit and the limits of both sides, run the teacher-forced pass
    through the scheduler and store one document per pair."""
    translator = state.translator
    assert translator is not None
    await enforce_rate_limit(http_request, state, len(pairs))
    check_sizes(state, [source for source, _ in pairs], "source")
    check_sizes(state, [target for _, target in pairs], "target")
    sources = translator.encode_sources([source for source, _ in pairs])
    translator.encode_targets([target for _, target in pairs])  # refuses over-long targets
    state.metrics.source_tokens.inc(sum(len(s.ids) for s in sources))
    options = AlignOptions(length_penalty=state.settings.length_penalty)
    aligned = await _decode(state, http_request, pairs, options)
    return await _store_documents(state, aligned, options, link_rule)
