"""POST /v1/align: the model run over translations the caller already has."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from service.api.deps import Ready, require_api_key
from service.api.documents import json_bytes, matrix, sentences_json
from service.api.responses import AlignResponse, ErrorResponse
from service.api.routes.translations import links_to_document
from service.api.schemas import AlignRequest
from service.api.translation_pipeline import align_and_store
from service.storage import StorageStatus

router = APIRouter(prefix="/v1", tags=["translation"], dependencies=[Depends(require_api_key)])

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 413, 422, 503)
}


@router.post(
    "/align",
    response_model=AlignResponse,
    responses={**ERRORS, 200: {"links": links_to_document("/alignments/0/id")}},
)
async def align(request: AlignRequest, state: Ready, http_request: Request) -> Response:
    """Align given translation pairs: the model runs teacher-forced over each target and
    answers its attention, word alignment and the log-probability of every target piece
    (useful for quality estimation and reranking). Stored like translations."""
    batch = await align_and_store(
        state,
        http_request,
        request.pairs,
        request.link_rule,
        request.format,
        request.source_lang,
        request.target_lang,
        request.links,
    )
    markup = batch.markup
    body = {
        "model": batch.model,
        "alignments": [
            {
                "id": document["id"],
                "source": request.pairs[n][0],
                "target": a.text,
                "score": a.score,
                "token_scores": [] if a.token_scores is None else matrix(a.token_scores),
                "sentences": sentences_json(a),
                "sentence_pairing": a.pairing,
                "target_markup": None if markup is None else markup[n],
                "stored": status is StorageStatus.stored,
                "storage": status.value,
                "alignment": document["alignment"],
            }
            for n, (a, document, status) in enumerate(
                zip(batch.translations, batch.documents, batch.statuses, strict=True)
            )
        ],
    }
    return Response(json_bytes(body), media_type="application/json")
