"""POST /v1/align on the real server: given translations scored and aligned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import LiveServer

PAIRS = [
    ("In the beginning God created the heaven and the earth.", "En el principio crió Dios."),
    ("Amen.", "Amén."),
    ("Jesus wept.", "Y lloró Jesús."),
]
EOS = "</s>"


def post(server: LiveServer, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=60)


def align(server: LiveServer, **body: Any) -> dict[str, Any]:
    response = post(server, "/v1/align", body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture(scope="module")
def batch(shared_server: LiveServer) -> dict[str, Any]:
    return align(shared_server, source=[s for s, _ in PAIRS], target=[t for _, t in PAIRS])


def test_each_pair_is_answered_in_order_with_its_fields(batch: dict[str, Any]) -> None:
    results = batch["alignments"]
    assert [(r["source"], r["target"]) for r in results] == PAIRS
    for result in results:
        assert set(result) == {
            "id",
            "source",
            "target",
            "score",
            "token_scores",
            "sentences",
            "sentence_pairing",
            "target_markup",
            "stored",
            "storage",
            "alignment",
        }
        assert result["stored"] is True
        assert result["storage"] == "stored"
        alignment = result["alignment"]
        assert alignment["target_tokens"][-1] == EOS
        assert alignment["source_tokens"][-1] == EOS
        assert (
            "".join(alignment["target_tokens"][:-1]).replace("\u2581", " ").strip()
            == (result["target"])
        )
    assert batch["model"]["source_lang"] == "en"


def test_rows_sum_to_one_and_shapes_match_the_tokens(batch: dict[str, Any]) -> None:
    for result in batch["alignments"]:
        alignment = result["alignment"]
        shape = (len(alignment["target_tokens"]), len(alignment["source_tokens"]))
        for matrix in (alignment["attention"], alignment["alignment_head"]["attention"]):
            matrix = np.array(matrix)
            assert matrix.shape == shape
            np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-5)
        words = alignment["words"]
        word_shape = (len(words["target"]), len(words["source"]))
        for matrix in (words["attention"], alignment["alignment_head"]["words"]):
            assert np.array(matrix).shape == word_shape
            np.testing.assert_allclose(np.array(matrix).sum(axis=1), 1.0, atol=1e-5)
        assert words["source"] == [*result["source"].split(), EOS]
        assert words["target"] == [*result["target"].split(), EOS]


def test_score_is_the_length_normalized_sum_of_the_token_scores(batch: dict[str, Any]) -> None:
    for result in batch["alignments"]:
        scores = result["token_scores"]
        assert len(scores) == len(result["alignment"]["target_tokens"])
        assert all(s <= 0 for s in scores)
        assert result["score"] == pytest.approx(sum(scores) / len(scores), rel=1e-5)


def test_links_come_from_the_head_and_name_their_source(batch: dict[str, Any]) -> None:
    for result in batch["alignments"]:
        alignment = result["alignment"]
        assert alignment["pharaoh_source"] == "alignment_head"
        words = alignment["words"]
        for link in alignment["pharaoh"].split():
            i, j = map(int, link.split("-"))
            assert 0 <= i < len(words["source"]) - 1
            assert 0 <= j < len(words["target"]) - 1


def test_link_rules_give_nested_link_sets(shared_server: LiveServer) -> None:
    source, target = PAIRS[0]
    by_rule = {
        rule: set(
            align(shared_server, source=source, target=target, link_rule=rule)["alignments"][0][
                "alignment"
            ]["pharaoh"].split()
        )
        for rule in ("argmax", "intersection")
    }
    assert by_rule["intersection"] <= by_rule["argmax"]
    result = align(shared_server, source=source, target=target, link_rule="threshold")
    assert result["alignments"][0]["alignment"]["link_rule"] == "threshold"


BUNDLED_MODEL = Path(__file__).parents[2] / "models" / "en-es"


def test_aligning_the_services_own_translation_gives_its_attention(start_server: Any) -> None:
    # The bundled model: the tiny one writes piece sequences that its own tokenizer would
    # split differently, so its texts do not come back as the same pieces. Without its
    # shortlist, so that the translation's score is the exact one too.
    server = start_server(model_dir=str(BUNDLED_MODEL), shortlist="false")
    source = "In the beginning, God created the heavens and the earth."
    response = post(server, "/v1/translate", {"text": source, "beam_size": 1})
    translation = response.json()["translations"][0]
    aligned = align(server, source=source, target=translation["text"])["alignments"][0]
    ours, theirs = aligned["alignment"], translation["alignment"]
    assert ours["target_tokens"] == theirs["target_tokens"]
    np.testing.assert_allclose(ours["attention"], theirs["attention"], atol=1e-5)
    if theirs["alignment_head"] is not None:
        np.testing.assert_allclose(
            ours["alignment_head"]["attention"], theirs["alignment_head"]["attention"], atol=1e-5
        )
    assert ours["pharaoh"] == theirs["pharaoh"]
    assert aligned["score"] == pytest.approx(translation["score"], abs=1e-4)


def test_a_pair_aligned_in_company_equals_the_pair_alone(
    batch: dict[str, Any], shared_server: LiveServer
) -> None:
    for (source, target), together in zip(PAIRS, batch["alignments"], strict=True):
        alone = align(shared_server, source=source, target=target)["alignments"][0]
        np.testing.assert_allclose(
            alone["alignment"]["attention"], together["alignment"]["attention"], atol=1e-5
        )
        np.testing.assert_allclose(alone["token_scores"], together["token_scores"], atol=1e-5)
        assert alone["alignment"]["pharaoh"] == together["alignment"]["pharaoh"]


def test_an_aligned_pair_is_stored_with_its_heatmaps(
    batch: dict[str, Any], shared_server: LiveServer
) -> None:
    result = batch["alignments"][1]
    document = httpx.get(f"{shared_server.url}/v1/translations/{result['id']}").json()
    assert document["source"] == result["source"]
    assert document["text"] == result["target"]
    assert document["options"]["forced"] is True
    assert document["alignment"] == result["alignment"]
    for suffix, media in (("svg", "image/svg+xml"), ("png", "image/png")):
        for matrix in ("attention", "alignment_head"):
            response = httpx.get(
                f"{shared_server.url}/v1/translations/{result['id']}/alignment.{suffix}",
                params={"matrix": matrix},
            )
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith(media)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"source": ["a", "b"], "target": ["x"]}, 422, "invalid_request"),
        ({"source": ["a"], "target": "x"}, 422, "invalid_request"),
        ({"source": "Amen.", "target": "   "}, 422, "invalid_request"),
        ({"source": "Amen.", "target": ""}, 422, "invalid_request"),
        ({"source": [], "target": []}, 422, "invalid_request"),
        ({"source": "Amen."}, 422, "invalid_request"),
        ({"source": "Amen.", "target": "Amén.", "beam_size": 2}, 422, "invalid_request"),
        ({"source": "Amen.", "target": "Amén.", "link_rule": "best"}, 422, "invalid_request"),
        ({"source": "Amen.", "target": "Amén.", "target_lang": "fr"}, 422, "unsupported_language"),
        ({"source": "Amen.", "target": "x" * 3000}, 413, "text_too_long"),
        ({"source": "Amen.", "target": "a b " * 300}, 413, "input_too_long"),
        ({"source": ["Amen."] * 40, "target": ["Amén."] * 40}, 413, "too_many_texts"),
    ],
)
def test_bad_input_gets_the_error_shape(
    shared_server: LiveServer, body: dict[str, Any], status: int, code: str
) -> None:
    response = post(shared_server, "/v1/align", body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_a_model_without_a_head_aligns_with_its_attention(
    headless_artifact: Any, start_server: Any
) -> None:
    server = start_server(model_dir=str(headless_artifact))
    source, target = PAIRS[0]
    result = align(server, source=source, target=target)["alignments"][0]
    alignment = result["alignment"]
    assert alignment["alignment_head"] is None
    assert alignment["pharaoh_source"] == "attention"
    response = httpx.get(
        f"{server.url}/v1/translations/{result['id']}/alignment.svg",
        params={"matrix": "alignment_head"},
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_alignment_head"


def test_with_the_shortlist_a_translations_score_is_renormalized(start_server: Any) -> None:
    # The serving default: the bundled model's shortlist on. The translation's score is
    # renormalized over the candidates (as Marian's), so it is above the exact one that
    # aligning the same text gives; the attention is the same.
    server = start_server(model_dir=str(BUNDLED_MODEL))
    source = "In the beginning, God created the heavens and the earth."
    translation = post(server, "/v1/translate", {"text": source})  # default beam
    translation = translation.json()["translations"][0]
    aligned = align(server, source=source, target=translation["text"])["alignments"][0]
    assert aligned["alignment"]["target_tokens"] == translation["alignment"]["target_tokens"]
    np.testing.assert_allclose(
        aligned["alignment"]["attention"], translation["alignment"]["attention"], atol=1e-5
    )
    assert translation["score"] > aligned["score"]
