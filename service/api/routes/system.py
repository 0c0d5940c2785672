"""Health, readiness, metrics and model information."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.deps import Ready, State, require_api_key
from service.api.documents import model_info
from service.storage import BreakerState

router = APIRouter(tags=["system"])


@router.get("/health/live")
async def live() -> dict[str, str]:
    """The process answers."""
    return {"status": "alive"}


@router.get("/health/ready")
async def ready(state: State) -> JSONResponse:
    """200 once the model is loaded and warmed up, 503 before and while shutting down.

    The alignment store is reported but does not decide readiness: without it the
    service still translates (documents wait in the write buffer), so a store outage
    must not take every replica out of rotation. The report is the circuit breaker's
    view, so a hung store does not slow the probe.
    """
    if state.ready and state.writer is not None:
        stats = state.writer.stats()
        return JSONResponse(
            {
                "status": "ready",
                "store": "ok" if stats.breaker is BreakerState.closed else "unavailable",
                "store_details": {
                    "backend": state.writer.kind,
                    "breaker": stats.breaker.value,
                    "pending": stats.pending,
                    "capacity": stats.capacity,
                    "stored": stats.stored,
                    "dropped": stats.dropped,
                    "last_error": stats.last_error,
                },
            }
        )
    return JSONResponse(
        {"status": "not_ready", "message": state.status_message},
        status_code=503,
        headers={"Retry-After": "1"},
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(state: State) -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/models", tags=["models"], dependencies=[Depends(require_api_key)])
async def models(state: Ready) -> dict[str, Any]:
    """The served models, one per language pair: pair, sizes, version, scores, execution
    provider, and the limits requests to them share."""
    return {
        "models": [
            {
                **model_info(model),
                "sizes": model.translator.artifact.config.get("model", {}),
                "scores": model.translator.artifact.config.get("scores", {}),
                "training_data": model.translator.artifact.config.get("training_data", {}),
                "max_beam_size": state.settings.max_beam_size,
                "max_texts": state.settings.max_texts,
                "max_chars": state.settings.max_chars,
            }
            for model in state.models
        ]
    }
