"""Dependencies shared by the routers: the running service and API-key checks.

They are ``async`` although they never await: FastAPI runs a plain ``def`` dependency in its
thread pool, and three thread hops per request, each waiting for the interpreter lock that
the decoding thread holds between steps, cost more than the checks themselves.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from service.api.errors import ApiError
from service.rate_limits import RateLimited
from service.runtime_state import ServiceState


async def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


State = Annotated[ServiceState, Depends(get_state)]


def _bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def is_valid_key(state: ServiceState, key: str) -> bool:
    """Whether ``key`` is one of the configured API keys (compared in constant time)."""
    return any(
        hmac.compare_digest(key.encode(), known.encode()) for known in state.settings.api_keys
    )


async def require_api_key(request: Request, state: State) -> None:
    """With keys configured, every /v1 request needs ``Authorization: Bearer <key>``."""
    if not state.settings.api_keys:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not is_valid_key(state, token.strip()):
        raise ApiError(
            401,
            "unauthorized",
            "a valid 'Authorization: Bearer <key>' is required",
            {"WWW-Authenticate": "Bearer"},
        )


async def require_ready(state: State) -> ServiceState:
    if not state.ready:
        raise ApiError(503, "not_ready", state.status_message, {"Retry-After": "1"})
    return state


Ready = Annotated[ServiceState, Depends(require_ready)]


async def enforce_rate_limit(request: Request, state: ServiceState, texts: int) -> None:
    """Count a request of ``texts`` texts for its API key (its client address when keys
    are off); 429 with Retry-After past the limit."""
    if state.limiter is None:
        return
    if state.settings.api_keys:
        client = _bearer_token(request)
    else:
        client = request.client.host if request.client else "unknown"
    try:
        await state.limiter.check(client, texts)
    except RateLimited as error:
        state.metrics.rate_limited.labels(error.limit).inc()
        raise ApiError(
            429, "rate_limited", str(error), {"Retry-After": str(error.retry_after)}
        ) from error
