"""POST /v1/translate with ``target_prefix`` against the real server: the translation starts
with the given words, for greedy and beam search, every alternative too; the alignment covers
prefix and continuation; bad prefixes are refused in the /v1 error shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import sentencepiece as spm

from tests.conftest import LiveServer

SENTENCE = "In the beginning God created the heaven and the earth."
SECOND = "And the earth was without form, and void."


@pytest.fixture(scope="module")
def target_spm(tiny_artifact: Path) -> spm.SentencePieceProcessor:
    return spm.SentencePieceProcessor(model_file=str(tiny_artifact / "target.spm"))


def translate(server: LiveServer, **body: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/translate", json=body, timeout=60)


def first(server: LiveServer, **body: Any) -> dict[str, Any]:
    response = translate(server, **body)
    assert response.status_code == 200, response.text
    translation: dict[str, Any] = response.json()["translations"][0]
    return translation


def pieces(sp: spm.SentencePieceProcessor, text: str) -> list[str]:
    return [sp.id_to_piece(i) for i in sp.encode(text)]


def other_start(free: str) -> str:
    """Two words the free translation does not start with."""
    start = "Y dijo" if not free.startswith("Y dijo") else "Entonces dijo"
    assert not free.startswith(start)
    return start


@pytest.mark.parametrize("beam_size", [1, 5])
def test_the_translation_starts_with_the_prefix_and_the_alignment_covers_it(
    shared_server: LiveServer, target_spm: spm.SentencePieceProcessor, beam_size: int
) -> None:
    free = first(shared_server, text=SENTENCE, beam_size=beam_size)
    prefix = other_start(free["text"])
    got = first(shared_server, text=SENTENCE, beam_size=beam_size, target_prefix=prefix)
    assert got["text"].startswith(target_spm.decode(target_spm.encode(prefix)))
    assert got["text"] != free["text"]
    alignment = got["alignment"]
    prefix_pieces = pieces(target_spm, prefix)
    assert alignment["target_tokens"][: len(prefix_pieces)] == prefix_pieces
    assert alignment["target_tokens"][-1] == "</s>"
    # One attention row per piece, prefix and continuation alike, each summing to 1.
    assert len(alignment["attention"]) == len(alignment["target_tokens"])
    assert all(sum(row) == pytest.approx(1.0, abs=1e-3) for row in alignment["attention"])
    # The words cover the prefix (the continuation may glue punctuation to its last word).
    assert " ".join(alignment["words"]["target"]).startswith(prefix)
    assert got["score"] < 0
    stored = httpx.get(f"{shared_server.url}/v1/translations/{got['id']}", timeout=30).json()
    assert stored["options"]["target_prefix"] == prefix
    assert stored["alignment"]["target_tokens"] == alignment["target_tokens"]


def test_the_score_counts_the_prefix_pieces(
    shared_server: LiveServer, target_spm: spm.SentencePieceProcessor
) -> None:
    free = first(shared_server, text=SENTENCE, beam_size=1)
    prefix = other_start(free["text"])
    got = first(
        shared_server, text=SENTENCE, beam_size=1, target_prefix=prefix, return_candidates=10
    )
    # The prefix pieces' log-probabilities, teacher-forced over the prefix alone: the same
    # decoder history as in the prefixed search.
    aligned = httpx.post(
        f"{shared_server.url}/v1/align",
        json={"source": SENTENCE, "target": prefix, "links": "forward"},
        timeout=60,
    ).json()["alignments"][0]
    forced = len(pieces(target_spm, prefix))
    assert (
        aligned["alignment"]["target_tokens"][:forced] == got["alignment"]["target_tokens"][:forced]
    )
    # After it, greedy takes the best piece of each step, except that the length limit may
    # force the last EOS, which then may not be among the ten candidates of its step.
    tokens = got["alignment"]["target_tokens"]
    free_steps = list(zip(tokens[forced:], got["candidates"][forced:], strict=True))
    assert all(token == step[0]["token"] for token, step in free_steps[:-1])
    chosen = [step[0]["logprob"] for _, step in free_steps[:-1]]
    log_prob = sum(aligned["token_scores"][:forced]) + sum(chosen)
    last_token, last_step = free_steps[-1]
    listed = [c["logprob"] for c in last_step if c["token"] == last_token]
    if listed:
        log_prob += listed[0]
        assert got["score"] == pytest.approx(log_prob / len(tokens), abs=1e-4)  # length penalty 1
    else:
        assert last_token == "</s>"
        last = got["score"] * len(tokens) - log_prob
        assert last <= last_step[-1]["logprob"] + len(tokens) * 1e-4
    # Forcing pieces the model did not choose costs log-probability.
    assert got["score"] < free["score"]


def test_every_beam_keeps_the_prefix(
    shared_server: LiveServer, target_spm: spm.SentencePieceProcessor
) -> None:
    free = first(shared_server, text=SENTENCE, beam_size=5, n_best=4)
    prefix = other_start(free["text"])
    got = first(shared_server, text=SENTENCE, beam_size=5, n_best=4, target_prefix=prefix)
    decoded = target_spm.decode(target_spm.encode(prefix))
    assert len(got["alternatives"]) == 3
    assert all(
        t.startswith(decoded) for t in [got["text"], *(a["text"] for a in got["alternatives"])]
    )
    assert len({got["text"], *(a["text"] for a in got["alternatives"])}) == 4


def test_the_start_of_the_free_translation_as_prefix_gives_it_back(
    shared_server: LiveServer, target_spm: spm.SentencePieceProcessor
) -> None:
    """Greedy: the continuation of its own start is what it chose anyway."""
    free = first(shared_server, text=SENTENCE, beam_size=1)
    tokens = free["alignment"]["target_tokens"]
    # The longest start (up to 8 pieces) that a string gives back as the same pieces.
    starts = [
        text
        for k in range(1, min(8, len(tokens) - 1) + 1)
        for text in [target_spm.decode([target_spm.piece_to_id(p) for p in tokens[:k]])]
        if pieces(target_spm, text) == tokens[:k]
    ]
    assert starts
    got = first(shared_server, text=SENTENCE, beam_size=1, target_prefix=starts[-1])
    assert got["alignment"]["target_tokens"] == tokens
    assert got["text"] == free["text"]
    assert got["score"] == pytest.approx(free["score"], abs=1e-4)


def test_a_prefix_ending_inside_a_word_is_forced_as_its_pieces(
    shared_server: LiveServer, target_spm: spm.SentencePieceProcessor
) -> None:
    prefix = "En el princ"
    got = first(shared_server, text=SENTENCE, beam_size=3, target_prefix=prefix)
    prefix_pieces = pieces(target_spm, prefix)
    assert got["alignment"]["target_tokens"][: len(prefix_pieces)] == prefix_pieces
    assert got["text"].startswith(prefix)


def test_a_texts_prefix_starts_its_first_sentence_only(
    shared_server: LiveServer, target_spm: spm.SentencePieceProcessor
) -> None:
    texts = [f"{SENTENCE} {SECOND}", SECOND]
    free = translate(shared_server, text=texts, beam_size=1).json()["translations"]
    prefix = other_start(free[0]["text"])
    got = translate(shared_server, text=texts, beam_size=1, target_prefix=[prefix, None])
    assert got.status_code == 200, got.text
    document, untouched = got.json()["translations"]
    assert document["text"].startswith(target_spm.decode(target_spm.encode(prefix)))
    # The second sentence of the first text, and the text without a prefix, decode freely.
    first_end = document["sentences"][1]["target_span"]
    free_end = free[0]["sentences"][1]["target_span"]
    assert document["text"][slice(*first_end)] == free[0]["text"][slice(*free_end)]
    assert untouched["text"] == free[1]["text"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"text": SENTENCE, "target_prefix": ""}, 422, "invalid_request"),
        ({"text": SENTENCE, "target_prefix": "   "}, 422, "invalid_request"),
        ({"text": SENTENCE, "target_prefix": "Y\x07 dijo"}, 422, "invalid_request"),
        ({"text": SENTENCE, "target_prefix": ["Y"]}, 422, "invalid_request"),
        ({"text": [SENTENCE], "target_prefix": "Y"}, 422, "invalid_request"),
        ({"text": [SENTENCE, SECOND], "target_prefix": ["Y"]}, 422, "invalid_request"),
        ({"text": [SENTENCE], "target_prefix": [""]}, 422, "invalid_request"),
        ({"text": SENTENCE, "target_prefix": 3}, 422, "invalid_request"),
        ({"text": "Jesus wept.", "target_prefix": "y " * 80}, 422, "invalid_target_prefix"),
        ({"text": SENTENCE, "target_prefix": "Y \u20ac"}, 422, "invalid_target_prefix"),
        (
            {"text": "<p>Hi</p>", "format": "html", "target_prefix": "Y"},
            422,
            "invalid_target_prefix",
        ),
        ({"text": SENTENCE, "target_prefix": "y" * 20_000}, 413, "text_too_long"),
    ],
)
def test_bad_prefixes_are_refused(
    shared_server: LiveServer, body: dict[str, Any], status: int, code: str
) -> None:
    response = translate(shared_server, **body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert "target_prefix" in error["message"] or code == "invalid_target_prefix"
