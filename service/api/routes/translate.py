"""POST /v1/translate."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from fastapi import APIRouter, Depends

from service.api.deps import Ready, require_api_key
from service.api.documents import alignment_document, model_info
from service.api.errors import ApiError
from service.api.schemas import ErrorResponse, TranslateRequest, TranslateResponse
from service.inference.translator import DecodeRequest
from service.storage import AlignmentStore, StoreUnavailable

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["translation"], dependencies=[Depends(require_api_key)])

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 413, 422, 503)
}


def _store_all(store: AlignmentStore, documents: list[dict[str, Any]]) -> None:
    for document in documents:
        store.put(document["id"], document)


@router.post("/translate", response_model=TranslateResponse, responses=ERRORS)
async def translate(request: TranslateRequest, state: Ready) -> dict[str, Any]:
    """Translate one text or a batch, with each translation's attention and word alignment."""
    settings = state.settings
    translator, scheduler, store = state.translator, state.scheduler, state.store
    assert translator is not None and scheduler is not None and store is not None
    artifact = translator.artifact
    for field, given, expected in (
        ("source_lang", request.source_lang, artifact.source_lang),
        ("target_lang", request.target_lang, artifact.target_lang),
    ):
        if given is not None and given != expected:
            raise ApiError(
                422,
                "unsupported_language",
                f"{field} {given!r} is not served; this model translates "
                f"{artifact.source_lang} to {artifact.target_lang}",
            )
    texts = request.texts
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
                f"text {n} has {len(text)} characters; the limit is {settings.max_chars}",
            )
    beam_size = request.beam_size or settings.default_beam_size
    if beam_size > settings.max_beam_size:
        raise ApiError(
            422, "invalid_beam_size", f"beam_size must be between 1 and {settings.max_beam_size}"
        )
    if request.n_best > beam_size:
        raise ApiError(
            422, "invalid_n_best", f"n_best must be between 1 and beam_size ({beam_size})"
        )
    options = state.search_options(beam_size, request.n_best, request.return_candidates)
    sources = translator.encode_sources(texts)  # refuses over-long inputs before queueing
    state.metrics.source_tokens.inc(sum(len(s.ids) for s in sources))

    translations = await scheduler.submit(DecodeRequest(texts, options))
    state.metrics.target_tokens.inc(sum(len(t.target_tokens) for t in translations))
    model = model_info(state)
    documents = [alignment_document(uuid.uuid4().hex, t, model, options) for t in translations]
    stored = True
    try:
        await asyncio.to_thread(_store_all, store, documents)
    except StoreUnavailable as error:
        stored = False
        state.metrics.store_failures.inc(len(documents))
        log.warning("alignment documents not stored: %s", error)
    return {
        "model": model,
        "translations": [
            {
                "id": document["id"],
                "text": t.text,
                "score": t.score,
                "alternatives": [{"text": a.text, "score": a.score} for a in t.alternatives],
                "stored": stored,
                "alignment": document["alignment"] if request.return_attention else None,
                "candidates": None
                if t.candidates is None
                else [
                    [{"token": c.token, "logprob": c.logprob} for c in step]
                    for step in t.candidates
                ],
            }
            for t, document in zip(translations, documents, strict=True)
        ],
    }
