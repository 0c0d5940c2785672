"""POST /v1/translate on the real server: batches, fields and the alignment invariants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from service.inference.alignment import aggregate_to_words
from service.inference.runtime import RuntimeOptions
from service.inference.search import SearchOptions
from service.inference.translator import Translator
from service.text.words import map_words
from tests.conftest import LiveServer

TEXTS = [
    "In the beginning God created the heaven and the earth.",
    "Amen.",
    "And God said, Let there be light: and there was light.",
    "Jesus wept.",
]
EOS = "</s>"


def translate(server: LiveServer, **body: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/v1/translate", json=body, timeout=60)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture(scope="module")
def batch(shared_server: LiveServer) -> dict[str, Any]:
    return translate(shared_server, text=TEXTS, beam_size=3)


@pytest.fixture(scope="module")
def in_process(tiny_artifact: Path) -> Translator:
    """The server's model loaded in this process, with the server's thread setting."""
    return Translator.from_directory(
        tiny_artifact, runtime=RuntimeOptions(device="cpu", intra_op_threads=1)
    )


def test_batch_is_answered_in_input_order(batch: dict[str, Any], shared_server: LiveServer) -> None:
    translations = batch["translations"]
    assert len(translations) == len(TEXTS)
    assert len({t["id"] for t in translations}) == len(TEXTS)
    for text, translation in zip(TEXTS, translations, strict=True):
        single = translate(shared_server, text=text, beam_size=3)["translations"]
        assert len(single) == 1
        assert single[0]["alignment"]["source_tokens"] == translation["alignment"]["source_tokens"]
        assert single[0]["text"] == translation["text"]


def test_model_block_names_the_pair(batch: dict[str, Any]) -> None:
    model = batch["model"]
    assert (model["source_lang"], model["target_lang"]) == ("en", "es")
    assert model["name"] == "tiny-en-es"
    assert model["execution_provider"] == "CPUExecutionProvider"


def test_every_translation_has_its_fields(batch: dict[str, Any]) -> None:
    for translation in batch["translations"]:
        assert set(translation) == {
            "id",
            "text",
            "score",
            "sentences",
            "plain",
            "alternatives",
            "stored",
            "storage",
            "alignment",
            "candidates",
        }
        assert translation["candidates"] is None
        assert isinstance(translation["text"], str)
        assert isinstance(translation["score"], float) and translation["score"] <= 0
        assert translation["alternatives"] == []
        assert (translation["stored"], translation["storage"]) == (True, "stored")
        assert len(translation["id"]) == 32


def test_attention_shape_equals_the_token_counts(batch: dict[str, Any]) -> None:
    for translation in batch["translations"]:
        alignment = translation["alignment"]
        attention = np.array(alignment["attention"])
        assert attention.shape == (len(alignment["target_tokens"]), len(alignment["source_tokens"]))
        words = alignment["words"]
        assert np.array(words["attention"]).shape == (len(words["target"]), len(words["source"]))


def test_attention_rows_sum_to_one(batch: dict[str, Any]) -> None:
    for translation in batch["translations"]:
        alignment = translation["alignment"]
        for matrix in (alignment["attention"], alignment["words"]["attention"]):
            values = np.array(matrix)
            assert (values >= 0).all()
            np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=1e-4)


def test_end_of_sentence_closes_both_sides(batch: dict[str, Any]) -> None:
    for translation in batch["translations"]:
        alignment = translation["alignment"]
        assert alignment["eos_token"] == EOS
        assert alignment["source_tokens"][-1] == EOS
        assert alignment["target_tokens"][-1] == EOS
        assert EOS not in alignment["target_tokens"][:-1]
        assert alignment["words"]["source"][-1] == EOS
        assert alignment["words"]["target"][-1] == EOS


def test_words_are_the_whitespace_words_with_their_offsets(batch: dict[str, Any]) -> None:
    for text, translation in zip(TEXTS, batch["translations"], strict=True):
        words = translation["alignment"]["words"]
        for side, sent in (("source", text), ("target", translation["text"])):
            assert words[side] == [*sent.split(), EOS]
            spans = words[f"{side}_spans"]
            assert spans[-1] is None
            assert [sent[a:b] for a, b in spans[:-1]] == sent.split()


def pooled(matrix: np.ndarray, source_map: list[int], target_map: list[int]) -> np.ndarray:
    """A model-word matrix pooled onto whitespace words (both mapped, </s> last): columns
    of one word summed, rows of one word averaged."""
    n_source, n_target = max(source_map) + 1, max(target_map) + 1
    out = np.zeros((n_target, n_source))
    for j, row in enumerate(matrix):
        for i, weight in enumerate(row):
            out[target_map[j], source_map[i]] += weight
    counts = np.bincount(target_map, minlength=n_target)
    return out / np.maximum(counts, 1)[:, None]


def word_maps(alignment: dict[str, Any]) -> tuple[Any, list[int], list[int]]:
    """The model's own words (from the pieces) and where each lands among the answer's
    whitespace words; </s> onto </s>."""
    model = aggregate_to_words(
        np.array(alignment["attention"]), alignment["source_tokens"], alignment["target_tokens"]
    )
    words = alignment["words"]
    maps = [
        [*map_words(own[:-1], given[:-1]), len(given) - 1]
        for own, given in ((model.source, words["source"]), (model.target, words["target"]))
    ]
    return model, maps[0], maps[1]


def test_word_matrix_is_the_aggregated_subword_matrix(batch: dict[str, Any]) -> None:
    for translation in batch["translations"]:
        alignment = translation["alignment"]
        model, source_map, target_map = word_maps(alignment)
        matrix = np.array(alignment["words"]["attention"])
        assert matrix.shape == (
            len(alignment["words"]["target"]),
            len(alignment["words"]["source"]),
        )
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-6)
        expected = pooled(model.attention, source_map, target_map)
        np.testing.assert_allclose(matrix, expected, atol=1e-9)
    source_words = batch["translations"][0]["alignment"]["words"]["source"]
    assert source_words[:3] == ["In", "the", "beginning"]


def test_pharaoh_pairs_are_the_word_argmax_without_eos(batch: dict[str, Any]) -> None:
    for translation in batch["translations"]:
        alignment = translation["alignment"]
        words = alignment["words"]
        # The tiny model has an alignment head and no dev-chosen rule: argmax of the head.
        assert (alignment["pharaoh_source"], alignment["link_rule"]) == (
            "alignment_head",
            "argmax",
        )
        model, source_map, target_map = word_maps(alignment)
        head = aggregate_to_words(
            np.array(alignment["alignment_head"]["attention"]),
            alignment["source_tokens"],
            alignment["target_tokens"],
        ).attention
        expected = set()
        for j in range(len(model.target) - 1):  # the model's words, </s> excluded
            best = int(np.argmax(head[j, : len(model.source) - 1]))
            expected.add((source_map[best], target_map[j]))
        pairs = alignment["pharaoh"].split()
        got = {(int(i), int(j)) for i, j in (pair.split("-") for pair in pairs)}
        assert len(pairs) == len(got)
        assert got == expected
        eos_source, eos_target = len(words["source"]) - 1, len(words["target"]) - 1
        assert all(i != eos_source and j != eos_target for i, j in got)
        # every whitespace word of the translation is linked (argmax links every model word)
        assert {j for _, j in got} == set(range(eos_target))


def test_return_attention_false_omits_the_alignment(shared_server: LiveServer) -> None:
    body = translate(shared_server, text=TEXTS[:2], return_attention=False)
    assert [t["alignment"] for t in body["translations"]] == [None, None]
    assert all(t["text"] is not None and t["id"] for t in body["translations"])


def test_n_best_returns_sorted_alternatives(shared_server: LiveServer) -> None:
    body = translate(shared_server, text=TEXTS[0], beam_size=5, n_best=4)
    translation = body["translations"][0]
    alternatives = translation["alternatives"]
    assert len(alternatives) == 3
    scores = [translation["score"]] + [a["score"] for a in alternatives]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(a["text"], str) for a in alternatives)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_return_candidates_gives_the_k_best_pieces_of_each_step(
    shared_server: LiveServer, in_process: Translator, beam_size: int
) -> None:
    k = 4
    body = translate(shared_server, text=TEXTS[:2], beam_size=beam_size, return_candidates=k)
    for source, translation in zip(TEXTS[:2], body["translations"], strict=True):
        tokens = translation["alignment"]["target_tokens"]
        candidates = translation["candidates"]
        assert len(candidates) == len(tokens)
        for prefix_end, step in enumerate(candidates):
            assert len(step) == k
            logprobs = [c["logprob"] for c in step]
            assert logprobs == sorted(logprobs, reverse=True)
            assert all(lp <= 0 for lp in logprobs)
            # the model's own distribution at this step, by teacher forcing the prefix
            log_probs = forced_step_log_probs(in_process, source, tokens[:prefix_end])
            best = np.argsort(-log_probs, kind="stable")[:k]
            pieces = in_process.tokenizer.target_pieces(best.tolist())
            assert [c["token"] for c in step] == pieces
            np.testing.assert_allclose(logprobs, log_probs[best], atol=1e-4)
        if beam_size == 1:  # greedy emits the best piece unless forced to stop
            assert [step[0]["token"] for step in candidates[:-1]] == tokens[:-1]


@pytest.mark.parametrize("k", [-1, 11, "3", 2.5])
def test_bad_return_candidates_is_422(shared_server: LiveServer, k: object) -> None:
    response = httpx.post(
        f"{shared_server.url}/v1/translate", json={"text": "Amen.", "return_candidates": k}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert "return_candidates" in response.json()["error"]["message"]


def forced_step_log_probs(translator: Translator, source: str, prefix: list[str]) -> np.ndarray:
    """The decoder's log-probabilities (V,) after the target pieces ``prefix``."""
    special = translator.artifact.special_tokens
    source_ids = translator.tokenizer.encode_source(source).ids
    encoded = translator.model.encode(
        np.array([source_ids], dtype=np.int64), np.array([len(source_ids)], dtype=np.int64)
    )
    step = translator.model.step_function(encoded)
    state, prev = encoded.init_state, special.bos
    for piece in prefix:
        _, state, _ = step(np.array([prev], dtype=np.int64), state, np.array([0]))
        prev = special.eos if piece == EOS else translator.tokenizer.target.piece_to_id(piece)
    log_probs, _, _ = step(np.array([prev], dtype=np.int64), state, np.array([0]))
    return np.asarray(log_probs[0])


def force_decode(
    translator: Translator, source: str, target_pieces: list[str]
) -> tuple[np.ndarray, float]:
    """Run the decoder step along ``target_pieces`` (teacher forcing), independently of
    any search: the attention rows and the log-probability of exactly that output."""
    special = translator.artifact.special_tokens
    source_ids = translator.tokenizer.encode_source(source).ids
    target_ids = [
        special.eos if piece == EOS else translator.tokenizer.target.piece_to_id(piece)
        for piece in target_pieces
    ]
    encoded = translator.model.encode(
        np.array([source_ids], dtype=np.int64), np.array([len(source_ids)], dtype=np.int64)
    )
    step = translator.model.step_function(encoded)
    state, prev, rows = encoded.init_state, special.bos, []
    log_prob = 0.0
    for token in target_ids:
        log_probs, state, alpha = step(np.array([prev], dtype=np.int64), state, np.array([0]))
        rows.append(alpha[0, : len(source_ids)])
        log_prob += float(log_probs[0, token])
        prev = token
    return np.stack(rows), log_prob


@pytest.mark.parametrize("beam_size", [1, 2, 5])
def test_beam_search_returns_the_matrix_of_the_returned_hypothesis(
    shared_server: LiveServer, in_process: Translator, beam_size: int
) -> None:
    served = translate(shared_server, text=TEXTS, beam_size=beam_size)["translations"]
    local = in_process.translate(TEXTS, SearchOptions(beam_size=beam_size))
    for source, got, expected in zip(TEXTS, served, local, strict=True):
        alignment = got["alignment"]
        tokens = alignment["target_tokens"]
        decoded = in_process.tokenizer.target.decode_pieces([p for p in tokens if p != EOS])
        assert decoded == got["text"]
        assert got["text"] == expected.text
        assert tokens == expected.target_tokens
        assert alignment["source_tokens"] == expected.source_tokens
        assert got["score"] == pytest.approx(expected.score, abs=1e-5)
        np.testing.assert_allclose(alignment["attention"], expected.attention, atol=1e-5)
        forced_attention, forced_log_prob = force_decode(in_process, source, tokens)
        np.testing.assert_allclose(alignment["attention"], forced_attention, atol=1e-5)
        assert got["score"] == pytest.approx(forced_log_prob / len(tokens), abs=1e-4)


@pytest.mark.parametrize(
    "languages",
    [{"source_lang": "en"}, {"target_lang": "es"}, {"source_lang": "en", "target_lang": "es"}],
)
def test_the_models_language_pair_is_accepted(
    shared_server: LiveServer, languages: dict[str, str]
) -> None:
    body = translate(shared_server, text="Amen.", **languages)
    assert len(body["translations"]) == 1


@pytest.mark.parametrize(
    "languages",
    [
        {"source_lang": "fr"},
        {"target_lang": "en"},
        {"source_lang": "es", "target_lang": "en"},
        {"source_lang": "EN"},
    ],
)
def test_other_language_pairs_are_refused(
    shared_server: LiveServer, languages: dict[str, str]
) -> None:
    response = httpx.post(
        f"{shared_server.url}/v1/translate", json={"text": "Amen.", **languages}, timeout=30
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unsupported_language"


def test_align_scores_given_translations_through_the_scheduler(
    shared_server: LiveServer, in_process: Translator
) -> None:
    [translation] = translate(shared_server, text=TEXTS[0], beam_size=1)["translations"]
    response = httpx.post(
        f"{shared_server.url}/v1/align",
        json={"source": TEXTS[0], "target": translation["text"]},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    [aligned] = response.json()["alignments"]
    tokens = aligned["alignment"]["target_tokens"]
    assert len(aligned["token_scores"]) == len(tokens)
    attention, log_prob = force_decode(in_process, TEXTS[0], tokens)
    np.testing.assert_allclose(aligned["alignment"]["attention"], attention, atol=1e-5)
    assert sum(aligned["token_scores"]) == pytest.approx(log_prob, abs=1e-4)
