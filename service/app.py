"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from service.api import openapi
from service.api.body_limit import BodyLimitMiddleware
from service.api.drain import DrainMiddleware
from service.api.errors import install_error_handlers
from service.api.observe import ObserveMiddleware
from service.api.routes import (
    align,
    deepl,
    explorer,
    libretranslate,
    system,
    translate,
    translations,
)
from service.config import Settings
from service.inference.artifact import load_artifact
from service.runtime_state import ServiceState


def create_app(settings: Settings) -> FastAPI:
    state = ServiceState(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="Bahdanau attention translation service",
        version="0.1.0",
        summary="Translations with their attention matrices and word alignments.",
        lifespan=lifespan,
    )
    app.state.service = state
    pairs = [(a.source_lang, a.target_lang) for a in map(load_artifact, settings.artifact_dirs)]

    def constrained_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = FastAPI.openapi(app)
            openapi.constrain(document, settings, pairs)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = constrained_openapi  # type: ignore[method-assign]
    install_error_handlers(app, settings.retry_after_seconds)
    app.include_router(translate.router)
    app.include_router(align.router)
    app.include_router(translations.router)
    app.include_router(system.router)
    app.include_router(explorer.router)
    app.include_router(libretranslate.router)
    app.include_router(deepl.router)
    app.mount("/static", explorer.static_files, name="static")
    # Inside the request log and metrics below, so refused bodies are counted too.
    app.add_middleware(
        DrainMiddleware, state=state, retry_after_seconds=settings.retry_after_seconds
    )
    max_body = settings.max_texts * settings.max_chars * 4 + 64 * 1024
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=max_body,
        timeout_seconds=settings.body_timeout_seconds,
        discard_bytes=max(16 * max_body, 8 * 1024 * 1024),
    )
    # Outermost: every request gets its id, log line and metrics, refused ones included.
    app.add_middleware(ObserveMiddleware, state=state)
    return app
