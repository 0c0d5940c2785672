"""LibreTranslate-compatible routes: POST /translate, GET /languages, POST /detect.

Tools and plugins that speak LibreTranslate's API can use this service unchanged. Bodies
are JSON or form-encoded (as LibreTranslate accepts), the key may come as ``api_key`` or as
``Authorization: Bearer``, and errors have LibreTranslate's shape ``{"error": "..."}`` on
these routes only. Translation goes through the same pipeline as POST /v1/translate; each
result also carries the id of its stored alignment document (``alignment_id``).
"""

from __future__ import annotations

import hmac
import json
from typing import Any, TypeVar
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from service.api.deps import State
from service.api.errors import as_api_error
from service.api.schemas import check_text
from service.api.translation_pipeline import translate_and_store
from service.runtime_state import ServiceState

LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "fr": "French", "de": "German"}
AUTO = "auto"


class LibreTranslateError(Exception):
    """Answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


class TranslateForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    q: str | list[str] = Field(description="One text or a list of texts.")
    source: str = Field(description="The model's source language, or 'auto'.")
    target: str = Field(description="The model's target language.")
    format: str = Field("text", description="Only 'text' is supported.")
    alternatives: int = Field(0, ge=0, description="Extra translations per text (n-best - 1).")
    api_key: str | None = None

    @field_validator("q")
    @classmethod
    def _check_q(cls, value: str | list[str]) -> str | list[str]:
        texts = [value] if isinstance(value, str) else value
        if not texts:
            raise ValueError("q must not be an empty list")
        for text in texts:
            check_text(text)
        return value


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


class LibreTranslateErrorBody(BaseModel):
    error: str


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": LibreTranslateErrorBody} for status in (400, 403, 413, 503)
}


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
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


async def _fields(request: Request) -> dict[str, Any]:
    """The body as a dict, whether JSON or form-encoded; a form may repeat ``q``."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded" or (
        not content_type and raw and not raw.lstrip().startswith(b"{")
    ):
        try:
            pairs = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError as error:
            raise LibreTranslateError(400, "the form is not valid UTF-8") from error
        return {k: v if k == "q" and len(v) > 1 else v[-1] for k, v in pairs.items()}
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LibreTranslateError(400, f"the body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise LibreTranslateError(400, "the body must be a JSON object")
    return body


Form = TypeVar("Form", bound=BaseModel)


def _parse(model: type[Form], fields: dict[str, Any]) -> Form:
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        if first["type"] == "missing":
            raise LibreTranslateError(400, f"Invalid request: missing {where} parameter") from error
        raise LibreTranslateError(400, f"Invalid request: {where}: {first['msg']}") from error


def _check_key(request: Request, state: ServiceState, given: str | None) -> None:
    keys = state.settings.api_keys
    if not keys:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    key = given if given else (token.strip() if scheme.lower() == "bearer" else "")
    if not key:
        raise LibreTranslateError(403, "An API key is required: send api_key")
    if not any(hmac.compare_digest(key.encode(), k.encode()) for k in keys):
        raise LibreTranslateError(403, "Invalid API key")


def _ready(state: ServiceState) -> None:
    if not state.ready or state.translator is None:
        raise LibreTranslateError(503, state.status_message, {"Retry-After": "1"})


def _detection(state: ServiceState) -> dict[str, Any]:
    """This model reads one language; it names it without claiming to have detected it."""
    assert state.translator is not None
    return {"language": state.translator.artifact.source_lang, "confidence": 0.0}


async def _translate(request: Request, state: ServiceState) -> dict[str, Any]:
    form = _parse(TranslateForm, await _fields(request))
    _check_key(request, state, form.api_key)
    _ready(state)
    assert state.translator is not None
    artifact = state.translator.artifact
    if form.source not in (AUTO, artifact.source_lang):
        raise LibreTranslateError(
            400, f"{form.source} is not supported; this service translates {artifact.source_lang}"
        )
    if form.target != artifact.target_lang:
        raise LibreTranslateError(
            400,
            f"{form.target} is not supported; this service translates {artifact.source_lang} "
            f"to {artifact.target_lang}",
        )
    if form.format != "text":
        raise LibreTranslateError(400, f"format {form.format!r} is not supported; use 'text'")
    n_best = 1 + form.alternatives
    if n_best > state.settings.max_beam_size:
        raise LibreTranslateError(
            400, f"alternatives must be at most {state.settings.max_beam_size - 1}"
        )
    beam_size = max(state.settings.default_beam_size, n_best)
    texts = [form.q] if isinstance(form.q, str) else form.q
    batch = await translate_and_store(state, request, texts, beam_size, n_best)

    def one(values: list[Any]) -> Any:
        return values[0] if isinstance(form.q, str) else values

    result: dict[str, Any] = {
        "translatedText": one([t.text for t in batch.translations]),
        "alignment_id": one([d["id"] for d in batch.documents]),
    }
    if form.alternatives:
        result["alternatives"] = one([[a.text for a in t.alternatives] for t in batch.translations])
    if form.source == AUTO:
        result["detectedLanguage"] = one([_detection(state) for _ in texts])
    return result


async def _answer(state: ServiceState, work: Any) -> JSONResponse:
    try:
        return JSONResponse(await work)
    except LibreTranslateError as error:
        return JSONResponse({"error": error.message}, error.status, headers=error.headers)
    except Exception as error:
        mapped = as_api_error(error, state.settings.retry_after_seconds)
        if mapped is None:
            raise
        status = 400 if mapped.status == 422 else mapped.status
        return JSONResponse({"error": mapped.message}, status, headers=mapped.headers)


router = APIRouter(tags=["LibreTranslate compatible"])


@router.post(
    "/translate",
    response_model=LibreTranslateResult,
    responses=ERRORS,
    openapi_extra=_body_doc(TranslateForm),
)
async def translate(request: Request, state: State) -> JSONResponse:
    """Translate like LibreTranslate (JSON or form-encoded body)."""
    return await _answer(state, _translate(request, state))


@router.get("/languages", response_model=list[Language])
async def languages(state: State) -> JSONResponse:
    """The languages of the served model and where each translates to."""

    async def work() -> list[dict[str, Any]]:
        _ready(state)
        assert state.translator is not None
        artifact = state.translator.artifact
        return [
            {
                "code": code,
                "name": LANGUAGE_NAMES.get(code, code),
                "targets": [artifact.target_lang] if code == artifact.source_lang else [],
            }
            for code in (artifact.source_lang, artifact.target_lang)
        ]

    return await _answer(state, work())


@router.post(
    "/detect",
    response_model=list[Detection],
    responses=ERRORS,
    openapi_extra=_body_doc(DetectForm),
)
async def detect(request: Request, state: State) -> JSONResponse:
    """This service does not detect languages: its model reads one. The answer names that
    language with confidence 0, so a client can go on with it without being misled."""

    async def work() -> list[dict[str, Any]]:
        parsed = _parse(DetectForm, await _fields(request))
        _check_key(request, state, parsed.api_key)
        _ready(state)
        return [_detection(state)]

    return await _answer(state, work())
