"""Request checks and document storing shared by the translate and align routes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from service.api.errors import ApiError
from service.runtime_state import ServiceState
from service.storage import StoreUnavailable

log = logging.getLogger(__name__)


def check_languages(state: ServiceState, source_lang: str | None, target_lang: str | None) -> None:
    """Refuse a language pair the model does not serve (422)."""
    assert state.translator is not None
    artifact = state.translator.artifact
    for field, given, expected in (
        ("source_lang", source_lang, artifact.source_lang),
        ("target_lang", target_lang, artifact.target_lang),
    ):
        if given is not None and given != expected:
            raise ApiError(
                422,
                "unsupported_language",
                f"{field} {given!r} is not served; this model translates "
                f"{artifact.source_lang} to {artifact.target_lang}",
            )


def check_sizes(state: ServiceState, texts: list[str], what: str = "text") -> None:
    """Refuse too many texts or too long a text (413), before any tokenizing."""
    settings = state.settings
    if len(texts) > settings.max_texts:
        raise ApiError(
            413,
            "too_many_texts",
            f"{len(texts)} texts given; at most {settings.max_texts} per request",
        )
    for n, text in enumerate(texts):
        if len(text) > settings.max_chars:
            raise ApiError(
                413,
                "text_too_long",
                f"{what} {n} has {len(text)} characters; the limit is {settings.max_chars}",
            )


def _store_all(state: ServiceState, documents: list[dict[str, Any]]) -> None:
    assert state.store is not None
    for document in documents:
        state.store.put(document["id"], document)


async def store_documents(state: ServiceState, documents: list[dict[str, Any]]) -> bool:
    """Store alignment documents; False (and a warning) when the store is unavailable."""
    try:
        await asyncio.to_thread(_store_all, state, documents)
    except StoreUnavailable as error:
        state.metrics.store_failures.inc(len(documents))
        log.warning("alignment documents not stored: %s", error)
        return False
    return True
