"""Dependencies shared by the routers: the running service and API-key checks."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from service.api.errors import ApiError
from service.runtime_state import ServiceState


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


State = Annotated[ServiceState, Depends(get_state)]


def require_api_key(request: Request, state: State) -> None:
    """With keys configured, every /v1 request needs ``Authorization: Bearer <key>``."""
    keys = state.settings.api_keys
    if not keys:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not any(
        hmac.compare_digest(token.strip().encode(), key.encode()) for key in keys
    ):
        raise ApiError(
            401,
            "unauthorized",
            "a valid 'Authorization: Bearer <key>' is required",
            {"WWW-Authenticate": "Bearer"},
        )


def require_ready(state: State) -> ServiceState:
    if not state.ready:
        raise ApiError(503, "not_ready", state.status_message, {"Retry-After": "1"})
    return state


Ready = Annotated[ServiceState, Depends(require_ready)]
