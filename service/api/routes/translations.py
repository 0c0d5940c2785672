"""GET /v1/translations/{id}: stored alignment documents and their heatmaps."""

from __future__ import annotations

import asyncio
import re
from enum import StrEnum
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from service.api.deps import State, require_api_key
from service.api.errors import ApiError
from service.api.schemas import AlignmentDocument, ErrorResponse
from service.inference import heatmap

router = APIRouter(
    prefix="/v1/translations", tags=["alignments"], dependencies=[Depends(require_api_key)]
)

ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 404, 422, 503)
}
DocumentId = Path(description="The id returned by POST /v1/translate.")


class Level(StrEnum):
    word = "word"
    subword = "subword"


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


@router.get("/{doc_id}", response_model=AlignmentDocument, responses=ERRORS)
async def get_document(state: State, doc_id: str = DocumentId) -> dict[str, Any]:
    """The stored alignment document of one translation."""
    return await _fetch(state, doc_id)


def _heatmap_inputs(
    document: dict[str, Any], level: Level
) -> tuple[np.ndarray, list[str], list[str]]:
    alignment = document["alignment"]
    if level is Level.word:
        words = alignment["words"]
        inputs = np.array(words["attention"]), words["source"], words["target"]
    else:
        inputs = (
            np.array(alignment["attention"]),
            alignment["source_tokens"],
            alignment["target_tokens"],
        )
    longest = max(len(inputs[1]), len(inputs[2]))
    if longest > heatmap.MAX_SIDE:
        raise ApiError(
            422,
            "too_large_to_draw",
            f"the {level.value}-level matrix has {longest} tokens on a side; "
            f"at most {heatmap.MAX_SIDE} can be drawn",
        )
    return inputs


@router.get("/{doc_id}/alignment.svg", response_class=Response, responses=ERRORS)
async def get_svg(state: State, doc_id: str = DocumentId, level: Level = Level.word) -> Response:
    """The attention heatmap as SVG, drawn like Figure 3 of Bahdanau et al. (2015)."""
    matrix, source, target = _heatmap_inputs(await _fetch(state, doc_id), level)
    svg = await asyncio.to_thread(heatmap.render_svg, matrix, source, target)
    return Response(svg, media_type="image/svg+xml")


@router.get("/{doc_id}/alignment.png", response_class=Response, responses=ERRORS)
async def get_png(state: State, doc_id: str = DocumentId, level: Level = Level.word) -> Response:
    """The attention heatmap as PNG."""
    matrix, source, target = _heatmap_inputs(await _fetch(state, doc_id), level)
    png = await asyncio.to_thread(heatmap.render_png, matrix, source, target)
    return Response(png, media_type="image/png")
