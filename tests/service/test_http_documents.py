"""Stored alignment documents: fetch by id (also after a restart), heatmaps, store outages."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from service.inference.heatmap import MAX_SIDE, layout
from tests.conftest import LiveServer, free_port

SOURCE = "In the beginning God created the heaven and the earth."
SVG = "{http://www.w3.org/2000/svg}"


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def translate(server: LiveServer, text: str | list[str], **options: Any) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/v1/translate", json={"text": text, **options}, timeout=60)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture(scope="module")
def translated(shared_server: LiveServer) -> dict[str, Any]:
    """One translation, as the POST answered it."""
    body = translate(shared_server, SOURCE, beam_size=2)
    translation: dict[str, Any] = body["translations"][0]
    assert translation["stored"] is True
    return translation


def fetch(server: LiveServer, doc_id: str, suffix: str = "", **params: str) -> httpx.Response:
    return httpx.get(f"{server.url}/v1/translations/{doc_id}{suffix}", params=params, timeout=60)


def level_inputs(document: dict[str, Any], level: str) -> tuple[np.ndarray, list[str], list[str]]:
    alignment = document["alignment"]
    if level == "word":
        words = alignment["words"]
        return np.array(words["attention"]), words["source"], words["target"]
    return (
        np.array(alignment["attention"]),
        alignment["source_tokens"],
        alignment["target_tokens"],
    )


def test_fetch_by_id_returns_the_document(
    shared_server: LiveServer, translated: dict[str, Any]
) -> None:
    response = fetch(shared_server, translated["id"])
    assert response.status_code == 200
    document = response.json()
    assert set(document) == {
        "id",
        "source",
        "text",
        "sentences",
        "alignment",
        "model",
        "options",
        "created_at",
    }
    assert document["id"] == translated["id"]
    assert document["source"] == SOURCE
    assert document["text"] == translated["text"]
    assert document["alignment"] == translated["alignment"]
    assert document["model"]["source_lang"] == "en"
    assert document["model"]["target_lang"] == "es"
    assert document["options"]["beam_size"] == 2
    assert document["options"]["n_best"] == 1
    created = datetime.fromisoformat(document["created_at"])
    assert created.tzinfo is not None
    assert abs((datetime.now(UTC) - created).total_seconds()) < 600


def test_each_text_of_a_batch_is_stored_under_its_own_id(shared_server: LiveServer) -> None:
    texts = ["Jesus wept.", "God is love.", "Amen."]
    translations = translate(shared_server, texts, beam_size=1)["translations"]
    for text, translation in zip(texts, translations, strict=True):
        document = fetch(shared_server, translation["id"]).json()
        assert document["source"] == text
        assert document["options"]["beam_size"] == 1


def test_document_is_stored_without_attention_in_the_answer(shared_server: LiveServer) -> None:
    translation = translate(shared_server, "God is love.", return_attention=False)
    entry = translation["translations"][0]
    assert entry["alignment"] is None and entry["stored"] is True
    document = fetch(shared_server, entry["id"]).json()
    assert document["alignment"]["target_tokens"][-1] == "</s>"


@pytest.mark.parametrize("level", ["word", "subword"])
def test_svg_heatmap_has_one_rect_per_cell(
    shared_server: LiveServer, translated: dict[str, Any], level: str
) -> None:
    params = {} if level == "word" else {"level": level}
    response = fetch(shared_server, translated["id"], "/alignment.svg", **params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{SVG}svg"
    matrix, source, target = level_inputs(fetch(shared_server, translated["id"]).json(), level)
    cells = [rect for rect in root.iter(f"{SVG}rect") if rect.find(f"{SVG}title") is not None]
    assert len(cells) == matrix.size == len(source) * len(target)
    greys = [int(rect.get("fill", "")[4:].split(",")[0]) for rect in cells]
    assert greys == np.rint(np.clip(matrix, 0, 1) * 255).astype(int).ravel().tolist()


def test_word_level_is_the_default(shared_server: LiveServer, translated: dict[str, Any]) -> None:
    default = fetch(shared_server, translated["id"], "/alignment.svg")
    word = fetch(shared_server, translated["id"], "/alignment.svg", level="word")
    subword = fetch(shared_server, translated["id"], "/alignment.svg", level="subword")
    assert default.content == word.content
    assert default.content != subword.content


def test_png_heatmaps_draw_the_matrix_of_each_level(
    shared_server: LiveServer, translated: dict[str, Any]
) -> None:
    document = fetch(shared_server, translated["id"]).json()
    sizes = {}
    for level in ("word", "subword"):
        response = fetch(shared_server, translated["id"], "/alignment.png", level=level)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(response.content))
        assert image.format == "PNG"
        matrix, source, target = level_inputs(document, level)
        geo = layout(matrix, source, target)
        assert image.size == (geo.width, geo.height)
        grey = image.convert("L")
        for (row, col), weight in np.ndenumerate(matrix):
            expected = round(float(np.clip(weight, 0, 1)) * 255)
            assert abs(grey.getpixel(geo.cell_center(row, col)) - expected) <= 1
        sizes[level] = image.size
    alignment = document["alignment"]
    assert len(alignment["source_tokens"]) > len(alignment["words"]["source"])
    assert sizes["subword"][0] > sizes["word"][0]
    assert sizes["subword"][1] >= sizes["word"][1]


@pytest.mark.parametrize("level", ["words", "char", "", "WORD"])
def test_bad_level_is_422(
    shared_server: LiveServer, translated: dict[str, Any], level: str
) -> None:
    for suffix in ("/alignment.svg", "/alignment.png"):
        response = fetch(shared_server, translated["id"], suffix, level=level)
        assert_error(response, 422, "invalid_request")


def test_a_matrix_too_large_to_draw_is_422_not_500(
    start_server: Callable[..., LiveServer],
) -> None:
    """More source pieces than a heatmap can hold: word level draws, subword level is refused."""
    server = start_server(max_source_tokens="600", max_length_ratio="0.05")
    translation = translate(server, "x" * (MAX_SIDE + 50), beam_size=1, return_attention=False)
    doc_id = translation["translations"][0]["id"]
    document = fetch(server, doc_id).json()
    assert len(document["alignment"]["source_tokens"]) > MAX_SIDE
    assert fetch(server, doc_id, "/alignment.svg").status_code == 200
    for suffix in ("/alignment.svg", "/alignment.png"):
        assert_error(fetch(server, doc_id, suffix, level="subword"), 422, "too_large_to_draw")


def test_documents_survive_a_restart(start_server: Callable[..., LiveServer]) -> None:
    first = start_server()
    translation = translate(first, [SOURCE, "Amen."], beam_size=2)["translations"]
    before = [fetch(first, t["id"]).json() for t in translation]
    assert first.stop() in (0, -15)  # uvicorn re-raises SIGTERM after a clean shutdown
    assert "Application shutdown complete." in first.log_path.read_text()

    second = start_server()
    for entry, document in zip(translation, before, strict=True):
        response = fetch(second, entry["id"])
        assert response.status_code == 200
        assert response.json() == document
    assert fetch(second, translation[0]["id"], "/alignment.png").status_code == 200


def test_store_down_translates_and_documents_wait_in_the_buffer(
    start_server: Callable[..., LiveServer],
) -> None:
    closed_port = free_port()  # nothing listens there
    server = start_server(redis_url=f"redis://127.0.0.1:{closed_port}/0")
    body = translate(server, ["God is love.", "Amen."], beam_size=2)
    assert [(t["stored"], t["storage"]) for t in body["translations"]] == [(False, "pending")] * 2
    assert all(t["text"] is not None and t["alignment"] for t in body["translations"])
    doc_id = body["translations"][0]["id"]
    document = fetch(server, doc_id)
    assert document.status_code == 200, document.text
    assert document.json()["alignment"] == body["translations"][0]["alignment"]
    for suffix in ("/alignment.svg", "/alignment.png"):
        assert fetch(server, doc_id, suffix).status_code == 200
    unknown = fetch(server, "0" * 32)  # not buffered: only the store could answer
    assert_error(unknown, 503, "store_unavailable")
    assert unknown.headers["retry-after"]
    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert "nmt_store_pending_documents 2.0" in metrics
    assert 'nmt_store_documents_total{outcome="stored"} 0.0' in metrics
    ready = httpx.get(f"{server.url}/health/ready", timeout=10)
    assert ready.status_code == 200
    details = ready.json()
    assert (details["status"], details["store"]) == ("ready", "unavailable")
    assert details["store_details"]["pending"] == 2
    assert details["store_details"]["breaker"] in {"open", "half_open"}
