"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from service.api.body_limit import BodyLimitMiddleware
from service.api.drain import DrainMiddleware
from service.api.errors import install_error_handlers
from service.api.routes import align, explorer, libretranslate, system, translate, translations
from service.config import Settings
from service.logs import request_id
from service.runtime_state import ServiceState

log = logging.getLogger("service.http")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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
    install_error_handlers(app, settings.retry_after_seconds)
    app.include_router(translate.router)
    app.include_router(align.router)
    app.include_router(translations.router)
    app.include_router(system.router)
    app.include_router(explorer.router)
    app.include_router(libretranslate.router)
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

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given = request.headers.get("x-request-id", "")
        rid = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        start = time.perf_counter()
        try:
            response = await call_next(request)
            response.headers["X-Request-ID"] = rid
            route = request.scope.get("route")
            route_path = getattr(route, "path", "unmatched")
            seconds = time.perf_counter() - start
            labels = (request.method, route_path, str(response.status_code))
            state.metrics.requests.labels(*labels).inc()
            state.metrics.latency.labels(*labels).observe(seconds)
            log.info(
                "%s %s %d",
                request.method,
                request.url.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
            return response
        finally:
            request_id.reset(token)

    return app
