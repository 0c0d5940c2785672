"""GET /v1/translations/{id}: stored alignment documents and their heatmaps."""

from __future__ import annotations

import asyncio
import re
from enum import StrEnum
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from service.api.deps import State, require_api_key
from service.api.errors import ApiError
from service.api.responses import AlignmentDocument, ErrorResponse
from service.inference import heatmap

router = APIRouter(
    prefix="/v1/translations", tags=["alignments"], dependencies=[Depends(require_api_key)]
)

ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 404, 422, 503)
}
DocumentId = Path(description="The id returned by POST /v1/translate.")


def links_to_document(id_pointer: str) -> dict[str, Any]:
    """OpenAPI links from a response's document id (a JSON pointer) to the fetch routes."""
    return {
        name: {"operationId": operation, "parameters": {"doc_id": f"$response.body#{id_pointer}"}}
        for name, operation in (
            ("GetTranslation", "get_translation"),
            ("GetHeatmapSvg", "get_translation_svg"),
            ("GetHeatmapPng", "get_translation_png"),
        )
    }


class Level(StrEnum):
    word = "word"
    subword = "subword"


class Matrix(StrEnum):
    attention = "attention"  # the model's alpha (Figure 3)
    alignment_head = "alignment_head"  # the alignment head's probabilities


async def _fetch(state: State, doc_id: str) -> dict[str, Any]:
    if state.writer is None:
        raise ApiError(503, "not_ready", state.status_message, {"Retry-After": "1"})
    document = None
    if ID_PATTERN.match(doc_id):
        document = await state.writer.get(doc_id)
    if document is None:
        raise ApiError(
            404, "not_found", f"no alignment document with id {doc_id!r} (unknown or expired)"
        )
    return document


@router.get(
    "/{doc_id}", response_model=AlignmentDocument, responses=ERRORS, operation_id="get_translation"
)
async def get_document(state: State, doc_id: str = DocumentId) -> dict[str, Any]:
    """The stored alignment document of one translation."""
    return await _fetch(state, doc_id)


SentenceNumber = Query(
    None,
    ge=0,
    description="Which sentence to draw, 0-based: required for a text of several sentences "
    "(each sentence is decoded, and drawn, on its own).",
)


def _drawable(attention: Any, words_attention: Any, head: dict[str, Any] | None) -> dict[str, Any]:
    """The matrices of a text or of one sentence; the alignment head's are None without one."""
    return {
        "attention": attention,
        "words": words_attention,
        "head": head and head["attention"],
        "head_words": head and head["words"],
    }


def _matrices(
    document: dict[str, Any], sentence: int | None
) -> tuple[dict[str, Any], list[str], list[str], list[str], list[str]]:
    """The matrices to draw, with their source and target pieces and words."""
    alignment = document["alignment"]
    words = alignment["words"]
    blocks = alignment.get("sentences")
    if not blocks:
        if sentence not in (None, 0):
            raise ApiError(422, "no_such_sentence", "this text has one sentence: sentence=0")
        matrices = _drawable(
            alignment["attention"], words["attention"], alignment.get("alignment_head")
        )
        return (
            matrices,
            alignment["source_tokens"],
            alignment["target_tokens"],
            words["source"],
            words["target"],
        )
    if sentence is None or sentence >= len(blocks):
        raise ApiError(
            422,
            "no_such_sentence",
            f"this text has {len(blocks)} sentences: give sentence=0 to {len(blocks) - 1}",
        )
    block = blocks[sentence]
    matrices = _drawable(block["attention"], block["words_attention"], block.get("alignment_head"))
    (s0, s1), (t0, t1) = block["source_tokens"], block["target_tokens"]
    (w0, w1), (v0, v1) = block["source_words"], block["target_words"]
    return (
        matrices,
        alignment["source_tokens"][s0:s1],
        alignment["target_tokens"][t0:t1],
        [*words["source"][w0:w1], "</s>"],
        [*words["target"][v0:v1], "</s>"],
    )


def _heatmap_inputs(
    document: dict[str, Any], level: Level, matrix: Matrix, sentence: int | None
) -> tuple[np.ndarray, list[str], list[str]]:
    matrices, source_pieces, target_pieces, source_words, target_words = _matrices(
        document, sentence
    )
    if matrix is Matrix.attention:
        weights = matrices["words"] if level is Level.word else matrices["attention"]
    else:
        if matrices["head"] is None:
            raise ApiError(
                404,
                "no_alignment_head",
                "this document has no alignment head matrix (the model has no alignment head)",
            )
        weights = matrices["head_words"] if level is Level.word else matrices["head"]
    if level is Level.word:
        inputs = np.array(weights), source_words, target_words
    else:
        inputs = np.array(weights), source_pieces, target_pieces
    longest = max(len(inputs[1]), len(inputs[2]))
    if longest > heatmap.MAX_SIDE:
        raise ApiError(
            422,
            "too_large_to_draw",
            f"the {level.value}-level matrix has {longest} tokens on a side; "
            f"at most {heatmap.MAX_SIDE} can be drawn",
        )
    return inputs


@router.get(
    "/{doc_id}/alignment.svg",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}},
    operation_id="get_translation_svg",
)
async def get_svg(
    state: State,
    doc_id: str = DocumentId,
    level: Level = Level.word,
    matrix: Matrix = Matrix.attention,
    sentence: int | None = SentenceNumber,
) -> Response:
    """The attention heatmap as SVG, drawn like Figure 3 of Bahdanau et al. (2015);
    ``matrix=alignment_head`` draws the alignment head's probabilities instead."""
    weights, source, target = _heatmap_inputs(await _fetch(state, doc_id), level, matrix, sentence)
    svg = await asyncio.to_thread(heatmap.render_svg, weights, source, target)
    return Response(svg, media_type="image/svg+xml")


@router.get(
    "/{doc_id}/alignment.png",
    response_class=Response,
    responses={
        **ERRORS,
        200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
    },
    operation_id="get_translation_png",
)
async def get_png(
    state: State,
    doc_id: str = DocumentId,
    level: Level = Level.word,
    matrix: Matrix = Matrix.attention,
    sentence: int | None = SentenceNumber,
) -> Response:
    """The attention (or alignment head) heatmap as PNG."""
    weights, source, target = _heatmap_inputs(await _fetch(state, doc_id), level, matrix, sentence)
    png = await asyncio.to_thread(heatmap.render_png, weights, source, target)
    return Response(png, media_type="image/png")
