"""DeepL-compatible routes: POST /v2/translate, GET /v2/languages and GET /v2/usage.

Clients written for DeepL's API (the official ``deepl`` libraries with ``server_url``,
plugins with a configurable endpoint) can use this service unchanged. Parameters come as
JSON or as a form (a form repeats ``text``), the key as ``Authorization: DeepL-Auth-Key
KEY`` checked against the service's API keys, and errors have DeepL's shape
``{"message": "..."}`` with DeepL's status codes (400, 403, 413, 429, 456, 503) on these
routes only. Translation goes through the same pipeline as POST /v1/translate.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.api.compat import (
    CompatError,
    ErrorShape,
    FieldsError,
    Problem,
    body_doc,
    check_ready,
    error_responses,
    refuse_other_methods,
    request_fields,
    served_pairs,
    validate_form,
)
from service.api.deps import State, is_valid_key
from service.api.schemas import check_text
from service.api.translation_pipeline import translate_and_store
from service.runtime_state import ServiceState
from service.text.language import language_name

AUTH_SCHEME = "deepl-auth-key"
# DeepL lists these target codes for a language; the bare code is accepted as well.
TARGET_VARIANTS = {
    "en": {"EN-GB": "English (British)", "EN-US": "English (American)"},
    "pt": {"PT-PT": "Portuguese (European)", "PT-BR": "Portuguese (Brazilian)"},
}
# No quota here: the limit a DeepL account without one reports, so clients see none reached.
CHARACTER_LIMIT = 1_000_000_000_000
# DeepL's status codes: 401 and 422 do not occur in its API.
ERROR_SHAPE = ErrorShape("message", {401: 403, 422: 400})


class TranslateForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: list[str] = Field(description="The texts (a form repeats 'text'; JSON a string too).")
    source_lang: str | None = Field(None, description="A served source language, e.g. 'EN'.")
    target_lang: str = Field(description="A served target language: 'ES', 'EN-GB', 'EN-US'...")
    tag_handling: Literal["html", "xml"] | None = Field(
        None, description="Keep the tags of HTML or XML around the translated words."
    )
    split_sentences: Literal["0", "1", "nonewlines"] = Field(
        "1", description="Accepted; each text is translated as a whole."
    )
    preserve_formatting: bool = Field(False, description="Accepted; has no effect.")

    @field_validator("text", mode="before")
    @classmethod
    def _one_text(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("text")
    @classmethod
    def _check_text(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("no text given")
        return [check_text(text) for text in value]

    @field_validator("tag_handling", "source_lang", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("split_sentences", mode="before")
    @classmethod
    def _as_string(cls, value: object) -> object:
        return str(int(value)) if isinstance(value, bool | int) else value


class TextResult(BaseModel):
    detected_source_language: str
    text: str
    billed_characters: int


class TranslateResult(BaseModel):
    translations: list[TextResult]


class Language(BaseModel):
    language: str
    name: str
    supports_formality: bool | None = None


class Usage(BaseModel):
    character_count: int
    character_limit: int


class DeepLErrorBody(BaseModel):
    message: str


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(DeepLErrorBody, *statuses)


def _check_key(request: Request, state: ServiceState) -> None:
    """With keys configured, ``Authorization: DeepL-Auth-Key KEY`` must name one; without,
    any key or none is accepted."""
    if not state.settings.api_keys:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != AUTH_SCHEME or not is_valid_key(state, token.strip()):
        raise CompatError(
            403, "Authorization failure: send 'Authorization: DeepL-Auth-Key KEY' with a valid key"
        )


def _target_codes(language: str) -> dict[str, str]:
    """The target codes DeepL lists for ``language``, with their names."""
    return TARGET_VARIANTS.get(language, {language.upper(): language_name(language)})


def _pair(state: ServiceState, source_lang: str | None, target_lang: str) -> tuple[str, str]:
    """The served pair named by DeepL's codes (any case; the source may be left out)."""
    source = source_lang.lower() if source_lang is not None else None
    target = target_lang.upper()
    pairs = served_pairs(state)
    if source is not None and source not in {s for s, _ in pairs}:
        raise CompatError(400, "Value for 'source_lang' not supported.")
    for pair in pairs:
        codes = {pair[1].upper(), *_target_codes(pair[1])}
        if target in codes and source in (None, pair[0]):
            return pair
    raise CompatError(400, "Value for 'target_lang' not supported.")


async def _fields(request: Request) -> dict[str, Any]:
    try:
        return await request_fields(request, repeated=("text",))
    except FieldsError as error:
        raise CompatError(400, f"Invalid request: {error}") from error


def _wording(problem: Problem) -> str:
    """DeepL's words for the first problem with a form."""
    if problem.kind == "missing" or (problem.name == "text" and "no text" in problem.message):
        return f"Parameter '{problem.name}' not specified."
    if problem.kind == "literal_error":
        return f"Value for '{problem.name}' not supported."
    return f"Parameter '{problem.where}' is invalid: {problem.message}"


async def _translate(request: Request, state: ServiceState) -> dict[str, Any]:
    _check_key(request, state)
    form = validate_form(TranslateForm, await _fields(request), _wording)
    check_ready(state)
    source, target = _pair(state, form.source_lang, form.target_lang)
    batch = await translate_and_store(
        state,
        request,
        form.text,
        None,
        1,
        text_format=form.tag_handling or "text",
        source_lang=None if form.source_lang is None else source,
        target_lang=target,
    )
    return {
        "translations": [
            {
                "detected_source_language": batch.model["source_lang"].upper(),
                "text": translated,
                "billed_characters": len(text),
            }
            for text, translated in zip(form.text, batch.texts, strict=True)
        ]
    }


router = APIRouter(prefix="/v2", tags=["DeepL compatible"])


@router.post(
    "/translate",
    response_model=TranslateResult,
    responses=_errors(400, 403, 413, 429, 503),
    openapi_extra=body_doc(TranslateForm),
)
async def translate(request: Request, state: State) -> JSONResponse:
    """Translate like DeepL. ``billed_characters`` is each source text's length; the source
    language is never detected, it is the served one."""
    return await ERROR_SHAPE.answer(state, _translate(request, state))


@router.get("/languages", response_model=list[Language], responses=_errors(400, 403, 503))
async def languages(request: Request, state: State) -> JSONResponse:
    """The served source languages, or with ``type=target`` the target languages (from the
    query or, as DeepL's client sends it, from a form body)."""

    async def work() -> list[dict[str, Any]]:
        _check_key(request, state)
        kind = (await _fields(request)).get("type", "source")
        if kind not in ("source", "target"):
            raise CompatError(400, "Value for 'type' not supported.")
        check_ready(state)
        pairs = served_pairs(state)
        if kind == "source":
            sources = dict.fromkeys(source for source, _ in pairs)
            return [{"language": s.upper(), "name": language_name(s)} for s in sources]
        targets = dict.fromkeys(target for _, target in pairs)
        return [
            {"language": code, "name": name, "supports_formality": False}
            for target in targets
            for code, name in _target_codes(target).items()
        ]

    return await ERROR_SHAPE.answer(state, work())


@router.get("/usage", response_model=Usage, responses=_errors(403))
async def usage(request: Request, state: State) -> JSONResponse:
    """``character_count``: characters of the source texts this process has translated
    since it started, through every API of the service (each replica counts its own).
    There is no quota: ``character_limit`` is a number no count reaches."""

    async def work() -> dict[str, int]:
        _check_key(request, state)
        count = state.metrics.characters_translated()
        return {"character_count": count, "character_limit": CHARACTER_LIMIT}

    return await ERROR_SHAPE.answer(state, work())


refuse_other_methods(
    router,
    {"/translate": ["POST"], "/languages": ["GET"], "/usage": ["GET"]},
    ERROR_SHAPE.body,
)
