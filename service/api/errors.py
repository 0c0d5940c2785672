"""The domain errors and their one JSON shape: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.disconnect import ClientDisconnected
from service.inference.scheduler import Overloaded, ShuttingDown
from service.inference.translator import InputTooLong, InvalidPrefix
from service.registry import UnsupportedPair
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


DOMAIN_ERRORS = (
    UnsupportedPair,
    InputTooLong,
    InvalidPrefix,
    Overloaded,
    ShuttingDown,
    StoreUnavailable,
    ClientDisconnected,
)


def as_api_error(error: Exception, retry_after_seconds: int) -> ApiError | None:
    """The status, code and message of a domain error; None for anything else."""
    retry = {"Retry-After": str(retry_after_seconds)}
    if isinstance(error, ApiError):
        return error
    if isinstance(error, UnsupportedPair):
        return ApiError(422, "unsupported_language", str(error))
    if isinstance(error, InputTooLong):
        return ApiError(413, "input_too_long", str(error))
    if isinstance(error, InvalidPrefix):
        return ApiError(422, "invalid_target_prefix", str(error))
    if isinstance(error, Overloaded):
        return ApiError(503, "overloaded", f"the service is busy: {error}", retry)
    if isinstance(error, ShuttingDown):
        return ApiError(503, "shutting_down", str(error), retry)
    if isinstance(error, StoreUnavailable):
        return ApiError(
            503, "store_unavailable", f"the alignment store is unavailable: {error}", retry
        )
    if isinstance(error, ClientDisconnected):
        # Nobody reads it; 499 (as nginx logs it) keeps the logs and metrics honest.
        return ApiError(499, "client_closed_request", str(error))
    return None


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{location}: {error.get('msg')}" if location else str(error.get("msg")))
    return "; ".join(parts)


def install_error_handlers(app: FastAPI, retry_after_seconds: int) -> None:
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

    async def _domain(_: Request, error: Exception) -> JSONResponse:
        mapped = as_api_error(error, retry_after_seconds)
        assert mapped is not None
        return error_response(mapped.status, mapped.code, mapped.message, mapped.headers)

    for domain_error in DOMAIN_ERRORS:
        app.add_exception_handler(domain_error, _domain)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        return error_response(500, "internal_error", "unexpected error; see the server log")
