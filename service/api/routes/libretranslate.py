"""LibreTranslate-compatible routes: POST /translate, GET /languages, POST /detect, and the
GET /health, /spec and /frontend/settings that LibreTranslate's clients and front ends read.

Tools and plugins that speak LibreTranslate's API can use this service unchanged. Parameters
come as JSON, as a form or in the query string (as LibreTranslate accepts them), the key as
``api_key`` or as ``Authorization: Bearer``, and errors have LibreTranslate's shape
``{"error": "..."}`` (with its texts where its clients and tests read them) on these routes
only. Translation goes through the same pipeline as POST /v1/translate; each result also
carries the id of its stored alignment document (``alignment_id``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.api.compat import (
    CompatError,
    ErrorShape,
    FieldsError,
    Form,
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

AUTO = "auto"
FORMATS = ("text", "html")
REQUIRED = ("q", "source", "target")  # LibreTranslate treats an empty value as missing
FRONTEND_TIMEOUT_MS = 500  # LibreTranslate's default, for its web front end
ERROR_SHAPE = ErrorShape("error", {422: 400})


class TranslateForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    q: str | list[str] = Field(description="One text or a list of texts.")
    source: str = Field(description="A served source language, or 'auto'.")
    target: str = Field(description="A served target language.")
    format: str = Field("text", description="'text', or 'html' (tags kept around the words).")
    alternatives: int = Field(0, description="Extra translations per text (n-best - 1).")
    api_key: str | None = Field(None, description="Needed when the service has API keys.")

    @field_validator("q")
    @classmethod
    def _check_q(cls, value: str | list[str]) -> str | list[str]:
        for text in [value] if isinstance(value, str) else value:
            check_text(text)
        return value

    @field_validator("format", mode="before")
    @classmethod
    def _default_format(cls, value: object) -> object:
        return value or "text"


class DetectForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    q: str
    api_key: str | None = None

    @field_validator("q")
    @classmethod
    def _check_q(cls, value: str) -> str:
        return check_text(value)


class LibreTranslateResult(BaseModel):
    translatedText: str | list[str]
    alternatives: list[str] | list[list[str]] | None = None
    detectedLanguage: dict[str, Any] | list[dict[str, Any]] | None = None
    alignment_id: str | list[str] = Field(
        description="Id of each stored alignment document: GET /v1/translations/{id}, "
        "or /t/{id} in the explorer."
    )


class Language(BaseModel):
    code: str
    name: str
    targets: list[str]


class Detection(BaseModel):
    language: str
    confidence: float


class Health(BaseModel):
    status: str


class LanguageRef(BaseModel):
    code: str
    name: str


class FrontendLanguages(BaseModel):
    source: LanguageRef
    target: LanguageRef


class FrontendSettings(BaseModel):
    charLimit: int
    frontendTimeout: int
    apiKeys: bool
    keyRequired: bool
    suggestions: bool
    filesTranslation: bool
    supportedFilesFormat: list[str]
    language: FrontendLanguages


class LibreTranslateErrorBody(BaseModel):
    error: str


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(LibreTranslateErrorBody, *statuses)


def _wording(problem: Problem) -> str:
    """LibreTranslate's words for the first problem with a form."""
    if problem.kind == "missing":
        return f"Invalid request: missing {problem.name} parameter"
    if problem.name == "alternatives":
        return "Invalid request: alternatives parameter is not a number"
    return f"Invalid request: {problem.where}: {problem.message}"


async def _form(request: Request, model: type[Form]) -> Form:
    try:
        fields = await request_fields(request, repeated=("q",))
    except FieldsError as error:
        raise CompatError(400, str(error)) from error
    fields = {k: v for k, v in fields.items() if k not in REQUIRED or v not in ("", [], None)}
    return validate_form(model, fields, _wording)


def _check_key(request: Request, state: ServiceState, given: str | None) -> None:
    """With keys configured, ``api_key`` (or ``Authorization: Bearer``) must be one; without,
    any key a client sends is ignored."""
    if not state.settings.api_keys:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    key = given if given else (token.strip() if scheme.lower() == "bearer" else "")
    if not key:
        raise CompatError(403, "An API key is required: send api_key")
    if not is_valid_key(state, key):
        raise CompatError(403, "Invalid API key")


def _pair(state: ServiceState, source: str, target: str) -> tuple[str, str]:
    """The served pair for ``source`` (or 'auto') and ``target``, refused with
    LibreTranslate's messages."""
    pairs = served_pairs(state)
    known = {code for pair in pairs for code in pair}
    if source != AUTO and source not in known:
        raise CompatError(400, f"{source} is not supported")
    if target not in known:
        raise CompatError(400, f"{target} is not supported")
    for pair in pairs:
        if pair[1] == target and source in (AUTO, pair[0]):
            return pair
    reads = pairs[0][0] if source == AUTO else source
    raise CompatError(
        400,
        f"{language_name(target)} ({target}) is not available as a target language from "
        f"{language_name(reads)} ({reads})",
    )


async def _translate(request: Request, state: ServiceState) -> dict[str, Any]:
    form = await _form(request, TranslateForm)
    _check_key(request, state, form.api_key)
    check_ready(state)
    source, _ = _pair(state, form.source, form.target)
    if form.format not in FORMATS:
        raise CompatError(400, f"{form.format} format is not supported")
    alternatives = max(0, form.alternatives)
    limit = state.settings.max_beam_size - 1
    if alternatives > limit:
        raise CompatError(400, f"Invalid request: alternatives parameter must be <= {limit}")
    n_best = 1 + alternatives
    beam_size = max(state.settings.default_beam_size, n_best)
    texts = [form.q] if isinstance(form.q, str) else form.q
    batch = await translate_and_store(
        state,
        request,
        texts,
        beam_size,
        n_best,
        text_format=form.format,
        source_lang=None if form.source == AUTO else source,
        target_lang=form.target,
        report_detection=form.source == AUTO,
    )

    def one(values: list[Any]) -> Any:
        return values[0] if isinstance(form.q, str) else values

    result: dict[str, Any] = {
        "translatedText": one(batch.texts),
        "alignment_id": one([d["id"] for d in batch.documents]),
    }
    if alternatives:
        result["alternatives"] = one([[a.text for a in t.alternatives] for t in batch.translations])
    if form.source == AUTO:
        result["detectedLanguage"] = one(
            [{"language": lang, "confidence": round(c, 2)} for lang, c in batch.detections or []]
        )
    return result


router = APIRouter(tags=["LibreTranslate compatible"])


@router.post(
    "/translate",
    response_model=LibreTranslateResult,
    responses=_errors(400, 403, 413, 429, 503),
    openapi_extra=body_doc(TranslateForm),
)
async def translate(request: Request, state: State) -> JSONResponse:
    """Translate like LibreTranslate (JSON, form-encoded body or query string)."""
    return await ERROR_SHAPE.answer(state, _translate(request, state))


@router.get("/languages", response_model=list[Language], responses=_errors(503))
async def languages(state: State) -> JSONResponse:
    """The served languages and where each translates to."""

    async def work() -> list[dict[str, Any]]:
        check_ready(state)
        pairs = served_pairs(state)
        codes = list(dict.fromkeys(code for pair in pairs for code in pair))
        return [
            {
                "code": code,
                "name": language_name(code),
                "targets": [target for source, target in pairs if source == code],
            }
            for code in codes
        ]

    return await ERROR_SHAPE.answer(state, work())


@router.post(
    "/detect",
    response_model=list[Detection],
    responses=_errors(400, 403, 503),
    openapi_extra=body_doc(DetectForm),
)
async def detect(request: Request, state: State) -> JSONResponse:
    """The language of ``q`` among the languages the service serves, best first, with
    LibreTranslate's confidence scale (0 to 100)."""

    async def work() -> list[dict[str, Any]]:
        parsed = await _form(request, DetectForm)
        _check_key(request, state, parsed.api_key)
        check_ready(state)
        identifier = await state.identifier()
        ranked = identifier.detect(parsed.q)
        return [{"language": lang, "confidence": round(c, 2)} for lang, c in ranked]

    return await ERROR_SHAPE.answer(state, work())


@router.get("/health", response_model=Health, responses=_errors(503))
async def health(state: State) -> JSONResponse:
    """``{"status": "ok"}`` once the model is loaded (LibreTranslate's answer); 503 with the
    reason in LibreTranslate's error shape before and while shutting down."""

    async def work() -> dict[str, str]:
        check_ready(state)
        return {"status": "ok"}

    return await ERROR_SHAPE.answer(state, work())


@router.get("/spec", response_model=dict[str, Any])
async def spec(request: Request) -> dict[str, Any]:
    """The API description (LibreTranslate serves its Swagger document here): this service's
    OpenAPI document, the same as /openapi.json."""
    return request.app.openapi()


@router.get("/frontend/settings", response_model=FrontendSettings, responses=_errors(503))
async def frontend_settings(state: State) -> JSONResponse:
    """What LibreTranslate's web front end reads: the character limit per text, whether a
    key is needed, and the default pair. No suggestions and no file translation here."""

    async def work() -> dict[str, Any]:
        check_ready(state)
        source, target = served_pairs(state)[0]
        keys = bool(state.settings.api_keys)
        return {
            "charLimit": state.settings.max_chars,
            "frontendTimeout": FRONTEND_TIMEOUT_MS,
            "apiKeys": keys,
            "keyRequired": keys,
            "suggestions": False,
            "filesTranslation": False,
            "supportedFilesFormat": [],
            "language": {
                "source": {"code": source, "name": language_name(source)},
                "target": {"code": target, "name": language_name(target)},
            },
        }

    return await ERROR_SHAPE.answer(state, work())


refuse_other_methods(
    router,
    {
        "/translate": ["POST"],
        "/detect": ["POST"],
        "/languages": ["GET"],
        "/health": ["GET"],
        "/spec": ["GET"],
        "/frontend/settings": ["GET"],
    },
    ERROR_SHAPE.body,
)
