"""The domain errors and their one JSON shape: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.disconnect import ClientDisconnected
from service.inference.batcher import Overloaded, ShuttingDown
from service.inference.translator import InputTooLong
from service.storage import StoreUnavailable


class ApiError(Exception):
    """An error answered with ``status`` and a stable machine-readable ``code``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{location}: {error.get('msg')}" if location else str(error.get("msg")))
    return "; ".join(parts)


def install_error_handlers(app: FastAPI, retry_after_seconds: int) -> None:
    retry = {"Retry-After": str(retry_after_seconds)}

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = list(error.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(
                400, "invalid_json", "the body is not valid JSON: " + _describe(errors)
            )
        return error_response(422, "invalid_request", _describe(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        cause = error.__cause__  # FastAPI turns errors while reading the body into a 400
        if isinstance(cause, ApiError):
            return error_response(cause.status, cause.code, cause.message, cause.headers)
        codes = {
            400: "invalid_json",
            404: "not_found",
            405: "method_not_allowed",
            401: "unauthorized",
        }
        return error_response(
            error.status_code,
            codes.get(error.status_code, "http_error"),
            str(error.detail),
            getattr(error, "headers", None),
        )

    @app.exception_handler(InputTooLong)
    async def _too_long(_: Request, error: InputTooLong) -> JSONResponse:
        return error_response(413, "input_too_long", str(error))

    @app.exception_handler(Overloaded)
    async def _overloaded(_: Request, error: Overloaded) -> JSONResponse:
        return error_response(503, "overloaded", f"the service is busy: {error}", retry)

    @app.exception_handler(ShuttingDown)
    async def _shutting_down(_: Request, error: ShuttingDown) -> JSONResponse:
        return error_response(503, "shutting_down", str(error), retry)

    @app.exception_handler(ClientDisconnected)
    async def _gone(_: Request, error: ClientDisconnected) -> JSONResponse:
        # Nobody reads it; 499 (as nginx logs it) keeps the logs and metrics honest.
        return error_response(499, "client_closed_request", str(error))

    @app.exception_handler(StoreUnavailable)
    async def _store(_: Request, error: StoreUnavailable) -> JSONResponse:
        return error_response(
            503, "store_unavailable", f"the alignment store is unavailable: {error}", retry
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        return error_response(500, "internal_error", "unexpected error; see the server log")
