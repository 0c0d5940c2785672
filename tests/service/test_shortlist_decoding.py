"""Decoding over a lexical shortlist: the shortlist step against the full one, forced rows
exact, and an artifact without a shortlist decoding as before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from service.config import Settings
from service.inference.artifact import load_artifact
from service.inference.runtime import OnnxSeq2Seq, RuntimeOptions, session_options
from service.inference.search import SearchOptions
from service.inference.translator import AlignOptions, Translator

TEXTS = ["In the beginning God created the heavens and the earth.", "And God said.", "Amen."]
CPU = RuntimeOptions(device="cpu", shortlist=True)


@pytest.fixture(scope="module")
def with_shortlist(tiny_shortlist_artifact: Path) -> Translator:
    return Translator.from_directory(tiny_shortlist_artifact, runtime=CPU)


@pytest.fixture(scope="module")
def without_shortlist(tiny_artifact: Path) -> Translator:
    return Translator.from_directory(tiny_artifact, runtime=CPU)


def test_the_shortlist_step_scores_the_candidates_as_the_full_step(
    tiny_shortlist_artifact: Path,
) -> None:
    artifact = load_artifact(tiny_shortlist_artifact)
    assert artifact.decoder_step_shortlist_path is not None
    model = OnnxSeq2Seq(artifact, CPU)
    shortlist_step = ort.InferenceSession(
        str(artifact.decoder_step_shortlist_path),
        session_options(0, shared=True),
        providers=["CPUExecutionProvider"],
    )
    tokens = np.array([[10, 20, 30, 3], [40, 50, 3, 0]], dtype=np.int64)
    lengths = np.array([4, 3], dtype=np.int64)
    encoded = model.encode(tokens, lengths)
    assert model.shortlist is not None
    candidates = model.shortlist.candidates(tokens.ravel().tolist())
    vocabulary = int(artifact.sizes["tgt_vocab_size"])
    assert 0 < candidates.size < vocabulary
    prev = np.array([2, 2], dtype=np.int64)
    full_log_probs, _, full_attention = model.step_function(encoded)(
        prev, encoded.init_state, np.arange(2)
    )
    logits, log_probs, attention, top_ids = shortlist_step.run(
        ["logits", "log_probs", "attention", "top_ids"],
        {
            "prev_tokens": prev,
            "state": encoded.init_state,
            "annotations": encoded.annotations,
            "keys": encoded.keys,
            "src_mask": encoded.mask,
            "gather_positions": np.zeros(2, dtype=np.int64),
            "candidates": candidates,
            "top_k": np.array([3], dtype=np.int64),
        },
    )
    # Renormalized over the candidates: the full log-probabilities less a constant per row.
    offset = full_log_probs[:, candidates] - log_probs
    assert np.abs(offset - offset[:, :1]).max() <= 1e-5
    assert np.all(offset[:, 0] < 0)  # the candidates hold less than all the mass
    assert np.abs(logits - logits[:, :1] - (log_probs - log_probs[:, :1])).max() <= 1e-5
    best = candidates[np.argsort(-full_log_probs[:, candidates], axis=1, kind="stable")[:, :3]]
    assert np.array_equal(top_ids, best)
    assert np.abs(attention - full_attention).max() <= 1e-6


def test_free_rows_decode_over_the_candidates(with_shortlist: Translator) -> None:
    shortlist = with_shortlist.model.shortlist
    assert shortlist is not None
    vocabulary = int(with_shortlist.artifact.sizes["tgt_vocab_size"])
    for text in TEXTS:
        [result] = with_shortlist.translate([text], SearchOptions(beam_size=1))
        source = with_shortlist.encode_sources([text])[0]
        allowed = shortlist.candidates(source.ids)
        assert with_shortlist.pool.last_step_candidates == allowed.size < vocabulary
        ids = with_shortlist.tokenizer.encode_target(result.text).ids
        pieces = with_shortlist.tokenizer.target_pieces(allowed.tolist())
        assert set(result.target_tokens) <= set(pieces) | {"</s>"}, ids


def test_beam_search_runs_over_the_shortlist(
    with_shortlist: Translator, without_shortlist: Translator
) -> None:
    options = SearchOptions(beam_size=4, n_best=2)
    short, full = (
        with_shortlist.translate(TEXTS, options),
        without_shortlist.translate(TEXTS, options),
    )
    for a, b in zip(short, full, strict=True):
        assert len(a.alternatives) == len(b.alternatives) == 1
        assert a.score >= b.score - 1e-4  # renormalized over fewer pieces: never lower


def test_forced_rows_keep_exact_log_probabilities(
    with_shortlist: Translator, without_shortlist: Translator
) -> None:
    pairs = [
        (t, r.text)
        for t, r in zip(
            TEXTS, without_shortlist.translate(TEXTS, SearchOptions(beam_size=1)), strict=True
        )
    ]
    exact = without_shortlist.align(pairs, AlignOptions())
    for a, b in zip(with_shortlist.align(pairs, AlignOptions()), exact, strict=True):
        assert a.token_scores is not None and b.token_scores is not None
        np.testing.assert_allclose(a.token_scores, b.token_scores, atol=1e-6)
        assert a.score == pytest.approx(b.score, abs=1e-6)


def test_a_step_mixing_forced_and_free_rows_scores_the_whole_vocabulary(
    with_shortlist: Translator, without_shortlist: Translator
) -> None:
    from service.inference.translator import DecodeRequest

    pairs = [(TEXTS[0], "En el principio Dios creó los cielos.")]
    [exact] = without_shortlist.align(pairs, AlignOptions())
    works = with_shortlist.begin(
        [DecodeRequest(TEXTS[1:], SearchOptions(beam_size=1)), DecodeRequest(pairs, AlignOptions())]
    )
    try:
        live = [d for work in works for d in work.decodings]
        with_shortlist.step(live)
        assert with_shortlist.pool.last_step_candidates == 0  # the full vocabulary
        while live:
            with_shortlist.step(live)
            live = [d for d in live if not d.done]
        [aligned] = with_shortlist.finish(works[1])
    finally:
        for work in works:
            with_shortlist.release(work)
    assert aligned.token_scores is not None and exact.token_scores is not None
    np.testing.assert_allclose(aligned.token_scores, exact.token_scores, atol=1e-6)


def test_turned_off_or_absent_the_shortlist_changes_nothing(
    tiny_shortlist_artifact: Path,
    tiny_artifact: Path,
    without_shortlist: Translator,
    tmp_path: Path,
) -> None:
    off = Translator.from_directory(
        tiny_shortlist_artifact, runtime=RuntimeOptions(device="cpu", shortlist=False)
    )
    assert off.model.shortlist is None and off.model.shortlist_decoder is None
    assert without_shortlist.model.shortlist is None
    assert without_shortlist.model.shortlist_decoder is None
    # An artifact exported before the shortlist step graph existed.
    old = tmp_path / "old"
    shutil.copytree(tiny_artifact, old)
    config = json.loads((old / "model_config.json").read_text())
    del config["decoder_step_shortlist"], config["int8"]["decoder_step_shortlist"]
    (old / "model_config.json").write_text(json.dumps(config))
    (old / "decoder_step_shortlist.onnx").unlink()
    older = Translator.from_directory(old, runtime=CPU)
    assert older.artifact.decoder_step_shortlist_path is None
    options = SearchOptions(beam_size=3)
    expected = without_shortlist.translate(TEXTS, options)
    for translator in (off, older):
        for a, b in zip(translator.translate(TEXTS, options), expected, strict=True):
            assert a.target_tokens == b.target_tokens
            assert a.score == pytest.approx(b.score, abs=1e-6)


def test_the_setting_turns_the_shortlist_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NMT_SHORTLIST", "false")
    assert Settings().shortlist is False
    monkeypatch.delenv("NMT_SHORTLIST")
    assert Settings().shortlist is True  # the serving default, chosen on dev BLEU and speed


def test_int8_decodes_over_the_shortlist_and_aligns_exactly(
    tiny_shortlist_artifact: Path,
) -> None:
    with_int8 = Translator.from_directory(tiny_shortlist_artifact, "int8", CPU)
    assert with_int8.artifact.decoder_step_shortlist_path is not None
    assert "int8" in with_int8.artifact.decoder_step_shortlist_path.parts
    full_int8 = Translator.from_directory(
        tiny_shortlist_artifact, "int8", RuntimeOptions(device="cpu", shortlist=False)
    )
    results = with_int8.translate(TEXTS, SearchOptions(beam_size=2))
    assert all(r.target_tokens[-1] == "</s>" for r in results)
    pairs = [(t, r.text) for t, r in zip(TEXTS, results, strict=True)]
    for a, b in zip(
        with_int8.align(pairs, AlignOptions()), full_int8.align(pairs, AlignOptions()), strict=True
    ):
        assert a.token_scores is not None and b.token_scores is not None
        np.testing.assert_allclose(a.token_scores, b.token_scores, atol=1e-6)
