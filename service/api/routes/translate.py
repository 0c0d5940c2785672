"""POST /v1/translate."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from service.api.deps import Ready, require_api_key
from service.api.documents import json_bytes, sentences_json
from service.api.responses import ErrorResponse, TranslateResponse
from service.api.routes.translations import links_to_document
from service.api.schemas import TranslateRequest
from service.api.translation_pipeline import translate_and_store
from service.storage import StorageStatus

router = APIRouter(prefix="/v1", tags=["translation"], dependencies=[Depends(require_api_key)])

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 413, 422, 429, 503)
}


@router.post(
    "/translate",
    response_model=TranslateResponse,
    responses={**ERRORS, 200: {"links": links_to_document("/translations/0/id")}},
)
async def translate(request: TranslateRequest, state: Ready, http_request: Request) -> Response:
    """Translate one text or a batch, with each translation's attention and word alignment."""
    batch = await translate_and_store(
        state,
        http_request,
        request.texts,
        request.beam_size,
        request.n_best,
        request.link_rule,
        request.return_candidates,
        request.format,
        request.source_lang,
        request.target_lang,
        request.links,
        target_prefixes=request.target_prefixes,
    )
    markup = batch.markup
    body = {
        "model": batch.model,
        "translations": [
            {
                "id": document["id"],
                "text": t.text if markup is None else markup[n],
                "plain": None if markup is None else {"source": t.source, "target": t.text},
                "score": t.score,
                "alternatives": [{"text": a.text, "score": a.score} for a in t.alternatives],
                "sentences": sentences_json(t),
                "stored": status is StorageStatus.stored,
                "storage": status.value,
                "alignment": document["alignment"] if request.return_attention else None,
                "candidates": None
                if t.candidates is None
                else [
                    [{"token": c.token, "logprob": c.logprob} for c in step]
                    for step in t.candidates
                ],
            }
            for n, (t, document, status) in enumerate(
                zip(batch.translations, batch.documents, batch.statuses, strict=True)
            )
        ],
    }
    return Response(json_bytes(body), media_type="application/json")
