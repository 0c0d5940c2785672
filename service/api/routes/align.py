"""POST /v1/align: the model run over translations the caller already has."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Response

from service.api.checks import check_languages, check_sizes, store_documents
from service.api.deps import Ready, require_api_key
from service.api.documents import alignment_document, json_bytes, matrix, model_info
from service.api.schemas import AlignRequest, AlignResponse, ErrorResponse
from service.inference.translator import AlignOptions, DecodeRequest, LinkPolicy

router = APIRouter(prefix="/v1", tags=["translation"], dependencies=[Depends(require_api_key)])

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 413, 422, 503)
}


@router.post("/align", response_model=AlignResponse, responses=ERRORS)
async def align(request: AlignRequest, state: Ready) -> Response:
    """Align given translation pairs: the model runs teacher-forced over each target and
    answers its attention, word alignment and the log-probability of every target piece
    (useful for quality estimation and reranking). Stored like translations."""
    translator, scheduler = state.translator, state.scheduler
    assert translator is not None and scheduler is not None
    check_languages(state, request.source_lang, request.target_lang)
    pairs = request.pairs
    check_sizes(state, [source for source, _ in pairs], "source")
    check_sizes(state, [target for _, target in pairs], "target")
    sources = translator.encode_sources([source for source, _ in pairs])
    targets = translator.encode_targets([target for _, target in pairs])
    state.metrics.source_tokens.inc(sum(len(s.ids) for s in sources))
    state.metrics.target_tokens.inc(sum(len(t.ids) for t in targets))

    options = AlignOptions(length_penalty=state.settings.length_penalty)
    aligned = await scheduler.submit(DecodeRequest(pairs, options))
    if request.link_rule is not None:
        policy = LinkPolicy(request.link_rule, translator.link_policy.threshold)
        aligned = [a.relinked(policy) for a in aligned]
    model = model_info(state)
    documents = [alignment_document(uuid.uuid4().hex, a, model, options) for a in aligned]
    stored = await store_documents(state, documents)
    body = {
        "model": model,
        "alignments": [
            {
                "id": document["id"],
                "source": a.source,
                "target": a.text,
                "score": a.score,
                "token_scores": [] if a.token_scores is None else matrix(a.token_scores),
                "stored": stored,
                "alignment": document["alignment"],
            }
            for a, document in zip(aligned, documents, strict=True)
        ],
    }
    return Response(json_bytes(body), media_type="application/json")
