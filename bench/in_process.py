"""In-process decoding figures: ``Translator.translate`` on the bench sentences, no HTTP.

Counts the decoder rows of every step and the time spent in steps, so each figure can be
set against the ceiling both for the whole decode and for the decoder steps alone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from service.api.documents import alignment_document, json_bytes
from service.config import Settings
from service.inference.runtime import RuntimeOptions
from service.inference.search import SearchOptions
from service.inference.step import Decoding
from service.inference.translator import Translator
from service.storage.sqlite import SQLiteStore
from service.text.document import join_translations


class CountingTranslator(Translator):
    """The translator, counting decoder rows and steps."""

    rows = 0
    steps = 0
    step_seconds = 0.0

    def step(self, decodings: list[Decoding]) -> None:
        self.rows += sum(d.rows for d in decodings)
        self.steps += 1
        start = time.perf_counter()
        super().step(decodings)
        self.step_seconds += time.perf_counter() - start


def load(model: Path, precision: str, threads: int, device: str = "cpu") -> CountingTranslator:
    """The translator as the server decodes: its shortlist setting (NMT_SHORTLIST, on by
    default) applies here too."""
    overrides: dict[str, Any] = {"model_dir": model}
    shortlist = Settings(**overrides).shortlist
    base = Translator.from_directory(
        model,
        precision,
        RuntimeOptions(device=device, intra_op_threads=threads, shortlist=shortlist),
    )
    return CountingTranslator(base.artifact, base.model, base.tokenizer, base.max_source_tokens)


def decode_table(
    translator: CountingTranslator,
    sentences: list[str],
    beams: list[int],
    batches: list[int],
    rounds: int = 3,
) -> list[dict[str, Any]]:
    """Every (beam, batch) figure, measured ``rounds`` times in interleaved rounds (all
    figures once, then again), keeping each figure's fastest round: a shared machine's slow
    spells then fall on every figure alike instead of on whichever ran during them."""
    translator.warm_up()
    best: dict[tuple[int, int], dict[str, Any]] = {}
    for _ in range(rounds):
        for beam in beams:
            for batch in batches:
                row = _decode(translator, sentences, beam, batch)
                kept = best.get((beam, batch))
                if kept is None or row["sentences_per_s"] > kept["sentences_per_s"]:
                    best[(beam, batch)] = row
    return [best[(beam, batch)] for beam in beams for batch in batches]


def _decode(
    translator: CountingTranslator, sentences: list[str], beam: int, batch: int
) -> dict[str, Any]:
    translator.rows = translator.steps = 0
    translator.step_seconds = 0.0
    tokens = 0
    start = time.perf_counter()
    for i in range(0, len(sentences), batch):
        for t in translator.translate(sentences[i : i + batch], SearchOptions(beam)):
            tokens += len(t.target_tokens)
    elapsed = time.perf_counter() - start
    return {
        "beam": beam,
        "batch": batch,
        "sentences_per_s": len(sentences) / elapsed,
        "target_tokens_per_s": tokens / elapsed,
        "decoder_rows_per_s": translator.rows / elapsed,
        "rows_per_step": translator.rows / max(1, translator.steps),
        # Decoder rows per second of decoder steps alone (no encoder, no alignment head,
        # no result building).
        "step_rows_per_s": translator.rows / translator.step_seconds,
    }


def serving_costs(translator: Translator, sentence: str, store_path: Path) -> dict[str, float]:
    """Milliseconds per request of what the server adds around decoding: building the
    document and the response body (orjson) and storing the document (SQLite)."""
    [result] = translator.translate([sentence], SearchOptions(1))
    translation = join_translations(sentence, [(0, len(sentence))], [result])
    store = SQLiteStore(store_path, ttl_seconds=3600, max_entries=100_000)
    model = {"name": "bench"}
    runs = 200
    start = time.perf_counter()
    for n in range(runs):
        document = alignment_document(f"{n:032x}", translation, model, SearchOptions(1))
        json_bytes({"model": model, "translations": [document]})
    encode_ms = (time.perf_counter() - start) * 1000 / runs
    start = time.perf_counter()
    for n in range(runs):
        store.put(f"{n:032x}", document)
    store_ms = (time.perf_counter() - start) * 1000 / runs
    store.close()
    orjson.loads(json_bytes(document))  # the document is valid JSON
    return {"document_and_json_ms": encode_ms, "store_ms": store_ms}
