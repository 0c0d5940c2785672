"""Conversion of translations to the API's JSON documents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from service.inference.search import SearchOptions
from service.inference.translator import AlignOptions
from service.registry import ServedModel
from service.text.document import DocumentTranslation, SentenceTranslation


def matrix(values: np.ndarray) -> np.ndarray:
    """A matrix for a JSON document: float64 numpy, written by orjson without a Python loop
    (see ``json_bytes``)."""
    return np.ascontiguousarray(values, dtype=np.float64)


JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def json_bytes(document: Any) -> bytes:
    """A document (numpy matrices included) as compact UTF-8 JSON."""
    return orjson.dumps(document, option=JSON_OPTIONS)


def _head_json(attention: np.ndarray | None, words: np.ndarray | None) -> dict[str, Any] | None:
    if attention is None or words is None:
        return None
    return {"attention": matrix(attention), "words": matrix(words)}


def _sentence_block(
    sentence: SentenceTranslation, source_piece: int, target_piece: int
) -> dict[str, Any]:
    t = sentence.translation
    return {
        "source_tokens": [source_piece, source_piece + len(t.source_tokens)],
        "target_tokens": [target_piece, target_piece + len(t.target_tokens)],
        "source_words": list(sentence.source_words),
        "target_words": list(sentence.target_words),
        "attention": matrix(t.attention),
        "words_attention": matrix(sentence.word_attention),
        "alignment_head": _head_json(t.head_attention, sentence.head_words),
    }


def alignment_json(document: DocumentTranslation) -> dict[str, Any]:
    """The alignment of a text. One sentence: its matrices at the top level, as for a
    single sentence. Several: the top-level matrices are null and ``sentences`` holds each
    sentence's own block (see ``Alignment`` in the schemas)."""
    sentences = document.sentences
    single = sentences[0] if len(sentences) == 1 else None
    blocks, source_piece, target_piece = [], 0, 0
    for sentence in sentences if single is None else ():
        blocks.append(_sentence_block(sentence, source_piece, target_piece))
        source_piece += len(sentence.translation.source_tokens)
        target_piece += len(sentence.translation.target_tokens)
    return {
        "source_tokens": document.source_tokens,
        "target_tokens": document.target_tokens,
        "eos_token": "</s>",
        "attention": None if single is None else matrix(single.translation.attention),
        "words": {
            "source": document.source_words,
            "target": document.target_words,
            "source_spans": document.source_spans,
            "target_spans": document.target_spans,
            "attention": None if single is None else matrix(single.word_attention),
        },
        "pharaoh": document.pharaoh,
        "pharaoh_source": document.pharaoh_source,
        "link_rule": document.link_rule,
        "alignment_head": None
        if single is None
        else _head_json(single.translation.head_attention, single.head_words),
        "sentences": None if single is not None else blocks,
    }


def sentences_json(document: DocumentTranslation) -> list[dict[str, Any]]:
    """Where each sentence is in the text and in its translation, and its score."""
    return [
        {
            "source_span": list(s.source_span),
            "target_span": list(s.target_span),
            "score": s.translation.score,
        }
        for s in document.sentences
    ]


def model_info(model: ServedModel) -> dict[str, str]:
    artifact = model.translator.artifact
    return {
        "name": artifact.name,
        "version": artifact.version,
        "source_lang": artifact.source_lang,
        "target_lang": artifact.target_lang,
        "precision": artifact.precision,
        "execution_provider": model.translator.provider,
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
    translation: DocumentTranslation,
    model: dict[str, str],
    options: SearchOptions | AlignOptions,
    target_prefix: str | None = None,
) -> dict[str, Any]:
    """The stored document of a translation; ``target_prefix``: the start it was given."""
    chosen = options_json(options)
    if target_prefix is not None:
        chosen["target_prefix"] = target_prefix
    return {
        "id": doc_id,
        "source": translation.source,
        "text": translation.text,
        "sentences": sentences_json(translation),
        "alignment": alignment_json(translation),
        "model": model,
        "options": chosen,
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
