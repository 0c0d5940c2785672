"""What the LibreTranslate- and DeepL-compatible routes share: the served language pairs,
reading parameters wherever a client puts them and validating them, and answering errors
(their own refusals, the service's domain errors, other methods) in the route's own error
shape. Each route keeps only its words and its shape."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from service.api.errors import as_api_error
from service.runtime_state import ServiceState


def served_pairs(state: ServiceState) -> list[tuple[str, str]]:
    """The (source, target) language pairs the service translates, in the order served.

    Every language decision of the compatibility routes asks this one function, so serving
    several models only changes what it reads.
    """
    return state.models.pairs


class CompatError(Exception):
    """A refusal answered in the route's error shape with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


@dataclass(frozen=True)
class ErrorShape:
    """How a compatible API answers an error: ``{key: message}``, with the service's status
    codes that the API does not use replaced (``statuses`` maps ours to its)."""

    key: str
    statuses: Mapping[int, int]

    def body(self, message: str) -> dict[str, str]:
        return {self.key: message}

    async def answer(self, state: ServiceState, work: Awaitable[Any]) -> JSONResponse:
        """``work``'s result as JSON, or its CompatError or domain error in this shape."""
        try:
            return JSONResponse(await work)
        except CompatError as error:
            return JSONResponse(self.body(error.message), error.status, headers=error.headers)
        except Exception as error:
            mapped = as_api_error(error, state.settings.retry_after_seconds)
            if mapped is None:
                raise
            status = self.statuses.get(mapped.status, mapped.status)
            return JSONResponse(self.body(mapped.message), status, headers=mapped.headers)


def check_ready(state: ServiceState) -> None:
    if not state.ready or not state.models:
        raise CompatError(503, state.status_message, {"Retry-After": "1"})


def error_responses(body: type[BaseModel], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses: each of ``statuses`` with the route's error ``body``."""
    return {status: {"model": body} for status in statuses}


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a body read by hand: the same fields as JSON or as a form."""
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "application/x-www-form-urlencoded": {"schema": schema},
            },
        }
    }


class FieldsError(ValueError):
    """The body could not be read (bad JSON, bad form encoding); each route words it."""


def _form_fields(raw: bytes, repeated: Iterable[str]) -> dict[str, Any]:
    try:
        pairs = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as error:
        raise FieldsError("the form is not valid UTF-8") from error
    lists = set(repeated)
    return {
        key: values if key in lists and len(values) > 1 else values[-1]
        for key, values in pairs.items()
    }


async def request_fields(request: Request, repeated: Iterable[str] = ()) -> dict[str, Any]:
    """The parameters of a request as one dict: the query string, overridden by the body
    (JSON or form-encoded, whatever the method). A form may repeat the names in
    ``repeated``; repeated, they give a list."""
    repeated = tuple(repeated)
    fields = _form_fields(request.url.query.encode(), repeated) if request.url.query else {}
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not raw.strip():
        return fields
    if content_type == "application/x-www-form-urlencoded" or (
        content_type != "application/json" and not raw.lstrip().startswith((b"{", b"["))
    ):
        return {**fields, **_form_fields(raw, repeated)}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FieldsError(f"the body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise FieldsError("the body must be a JSON object")
    return {**fields, **body}


@dataclass(frozen=True)
class Problem:
    """The first thing wrong with a form's fields, as pydantic tells it."""

    kind: str  # pydantic's error type: "missing", "literal_error", ...
    name: str  # the field
    where: str  # the field's location, dotted
    message: str


Form = TypeVar("Form", bound=BaseModel)


def validate_form(
    model: type[Form], fields: dict[str, Any], wording: Callable[[Problem], str]
) -> Form:
    """``fields`` as a ``model``, or a 400 CompatError with ``wording`` of the first problem."""
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        problem = Problem(
            first["type"],
            str(first["loc"][0]),
            ".".join(str(part) for part in first["loc"]),
            first["msg"],
        )
        raise CompatError(400, wording(problem)) from error


def refuse_other_methods(
    router: APIRouter, paths: dict[str, list[str]], body: Callable[[str], dict[str, Any]]
) -> None:
    """Answer 405 with ``body(message)`` and an ``Allow`` header on each path for the
    methods it does not serve (``paths`` maps a path to the methods it serves)."""
    every = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    for path, allowed in paths.items():
        others = [method for method in every if method not in allowed]
        router.add_api_route(
            path, _refusal(body, ", ".join(allowed)), methods=others, include_in_schema=False
        )


def _refusal(
    body: Callable[[str], dict[str, Any]], allow: str
) -> Callable[[], Awaitable[JSONResponse]]:
    async def refuse() -> JSONResponse:
        return JSONResponse(body("Method Not Allowed"), 405, headers={"Allow": allow})

    return refuse
