"""POST /v1/translate."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Response

from service.api.checks import check_languages, check_sizes, store_documents
from service.api.deps import Ready, require_api_key
from service.api.documents import alignment_document, json_bytes, model_info
from service.api.errors import ApiError
from service.api.schemas import ErrorResponse, TranslateRequest, TranslateResponse
from service.inference.translator import DecodeRequest, LinkPolicy

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["translation"], dependencies=[Depends(require_api_key)])

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 413, 422, 503)
}


@router.post("/translate", response_model=TranslateResponse, responses=ERRORS)
async def translate(request: TranslateRequest, state: Ready) -> Response:
    """Translate one text or a batch, with each translation's attention and word alignment."""
    settings = state.settings
    translator, scheduler = state.translator, state.scheduler
    assert translator is not None and scheduler is not None
    check_languages(state, request.source_lang, request.target_lang)
    texts = request.texts
    check_sizes(state, texts)
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
    if request.link_rule is not None:
        policy = LinkPolicy(request.link_rule, translator.link_policy.threshold)
        translations = [t.relinked(policy) for t in translations]
    state.metrics.target_tokens.inc(sum(len(t.target_tokens) for t in translations))
    model = model_info(state)
    documents = [alignment_document(uuid.uuid4().hex, t, model, options) for t in translations]
    stored = await store_documents(state, documents)
    body = {
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
    return Response(json_bytes(body), media_type="application/json")
