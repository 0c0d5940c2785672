"""What the LibreTranslate- and DeepL-compatible routes share: the served language pairs,
reading parameters wherever a client puts them, and refusing other methods in the route's
own error shape."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.runtime_state import ServiceState

LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "fr": "French", "de": "German"}


def served_pairs(state: ServiceState) -> list[tuple[str, str]]:
    """The (source, target) language pairs the service translates, in the order served.

    Every language decision of the compatibility routes asks this one function, so serving
    several models only changes what it reads.
    """
    return state.models.pairs


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


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
