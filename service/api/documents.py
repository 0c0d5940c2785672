"""Conversion of translations to the API's JSON documents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from service.inference.search import SearchOptions
from service.inference.translator import AlignOptions, Translation
from service.runtime_state import ServiceState


def matrix(values: np.ndarray) -> np.ndarray:
    """A matrix for a JSON document: float64 numpy, written by orjson without a Python loop
    (see ``json_bytes``)."""
    return np.ascontiguousarray(values, dtype=np.float64)


JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def json_bytes(document: Any) -> bytes:
    """A document (numpy matrices included) as compact UTF-8 JSON."""
    return orjson.dumps(document, option=JSON_OPTIONS)


def alignment_json(translation: Translation) -> dict[str, Any]:
    return {
        "source_tokens": translation.source_tokens,
        "target_tokens": translation.target_tokens,
        "eos_token": "</s>",
        "attention": matrix(translation.attention),
        "words": {
            "source": translation.words.source,
            "target": translation.words.target,
            "attention": matrix(translation.words.attention),
        },
        "pharaoh": translation.pharaoh,
        "pharaoh_source": translation.pharaoh_source,
        "link_rule": translation.link_rule,
        "alignment_head": (
            {
                "attention": matrix(translation.head_attention),
                "words": matrix(translation.head_words.attention),
            }
            if translation.head_attention is not None and translation.head_words is not None
            else None
        ),
    }


def model_info(state: ServiceState) -> dict[str, str]:
    translator = state.translator
    assert translator is not None, "model_info needs a loaded model"
    artifact = translator.artifact
    return {
        "name": artifact.name,
        "version": artifact.version,
        "source_lang": artifact.source_lang,
        "target_lang": artifact.target_lang,
        "precision": artifact.precision,
        "execution_provider": translator.provider,
    }


def options_json(options: SearchOptions | AlignOptions) -> dict[str, Any]:
    if isinstance(options, AlignOptions):
        return {
            "beam_size": None,
            "n_best": None,
            "length_penalty": options.length_penalty,
            "max_length_ratio": None,
            "forced": True,
        }
    return {
        "beam_size": options.beam_size,
        "n_best": options.n_best,
        "length_penalty": options.length_penalty,
        "max_length_ratio": options.max_length_ratio,
        "forced": False,
    }


def alignment_document(
    doc_id: str,
    translation: Translation,
    model: dict[str, str],
    options: SearchOptions | AlignOptions,
) -> dict[str, Any]:
    return {
        "id": doc_id,
        "source": translation.source,
        "text": translation.text,
        "alignment": alignment_json(translation),
        "model": model,
        "options": options_json(options),
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
