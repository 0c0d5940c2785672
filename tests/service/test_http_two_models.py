"""A service with both directions (a models directory of two artifacts): routing by language
pair, detection, links by agreement of both directions, and both models under load."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.inference.translator import AlignOptions, Translator
from tests.conftest import LiveServer, module_server

ENGLISH = "And God said, Let there be light: and there was light."
SPANISH = "Y dijo Dios: Sea la luz: y fué la luz."


@pytest.fixture(scope="module")
def both(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = module_server(tmp_path_factory, NMT_MODELS_DIR=str(tiny_models_dir))
    yield server
    server.stop()


def post(server: LiveServer, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=60)


def test_models_and_languages_list_both_directions(both: LiveServer) -> None:
    models = httpx.get(f"{both.url}/v1/models", timeout=30).json()["models"]
    assert {(m["source_lang"], m["target_lang"]) for m in models} == {("en", "es"), ("es", "en")}
    languages = httpx.get(f"{both.url}/languages", timeout=30).json()
    assert {lang["code"]: lang["targets"] for lang in languages} == {"en": ["es"], "es": ["en"]}


def test_requests_are_routed_by_their_pair(both: LiveServer, tiny_reverse_artifact: Path) -> None:
    response = post(
        both, "/v1/translate", {"text": SPANISH, "source_lang": "es", "target_lang": "en"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"]["name"] == "tiny-es-en"
    alone = Translator.from_directory(tiny_reverse_artifact)
    [expected] = alone.align([(SPANISH, body["translations"][0]["text"])], AlignOptions())
    assert body["translations"][0]["alignment"]["source_tokens"] == expected.source_tokens
    english = post(both, "/v1/translate", {"text": ENGLISH, "target_lang": "es"}).json()
    assert english["model"]["name"] == "tiny-en-es"


def test_an_unknown_pair_is_refused_in_each_apis_shape(both: LiveServer) -> None:
    v1 = post(both, "/v1/translate", {"text": ENGLISH, "source_lang": "en", "target_lang": "en"})
    assert v1.status_code == 422
    assert v1.json()["error"]["code"] == "unsupported_language"
    libre = post(both, "/translate", {"q": ENGLISH, "source": "en", "target": "en"})
    assert libre.status_code == 400 and "error" in libre.json()
    deepl = post(both, "/v2/translate", {"text": [ENGLISH], "target_lang": "FR"})
    assert deepl.status_code == 400 and "message" in deepl.json()


def test_auto_detects_spanish_and_answers_in_english(both: LiveServer) -> None:
    response = post(both, "/translate", {"q": SPANISH, "source": "auto", "target": "en"})
    assert response.status_code == 200, response.text
    assert response.json()["detectedLanguage"]["language"] == "es"
    detected = post(both, "/v1/translate", {"text": SPANISH}).json()
    assert (detected["model"]["source_lang"], detected["model"]["target_lang"]) == ("es", "en")
    assert post(both, "/v1/translate", {"text": ENGLISH}).json()["model"]["source_lang"] == "en"


def test_align_defaults_to_the_agreement_of_both_directions(both: LiveServer) -> None:
    body = {"source": ENGLISH, "target": SPANISH}
    agreed = post(both, "/v1/align", body).json()["alignments"][0]["alignment"]
    forward = post(both, "/v1/align", {**body, "links": "forward"}).json()["alignments"][0]
    assert agreed["pharaoh_source"] == "agreement"
    assert agreed["link_rule"] in (
        "intersection",
        "union",
        "grow-diag-final-and",
        "product",
        "mean",
    )
    assert forward["alignment"]["pharaoh_source"] == "alignment_head"
    words = agreed["words"]
    for pair in agreed["pharaoh"].split():
        i, j = map(int, pair.split("-"))
        assert i < len(words["source"]) - 1 and j < len(words["target"]) - 1
    translated = post(both, "/v1/translate", {"text": ENGLISH, "links": "agreement"}).json()
    assert translated["translations"][0]["alignment"]["pharaoh_source"] == "agreement"
    plain = post(both, "/v1/translate", {"text": ENGLISH}).json()  # NMT_TRANSLATE_LINKS
    assert plain["translations"][0]["alignment"]["pharaoh_source"] == "alignment_head"
    refused = post(both, "/v1/align", {**body, "links": "agreement", "link_rule": "argmax"})
    assert refused.status_code == 422


def test_agreement_needs_the_reverse_model(shared_server: LiveServer) -> None:
    response = post(shared_server, "/v1/align", {"source": ENGLISH, "target": SPANISH})
    assert response.json()["alignments"][0]["alignment"]["pharaoh_source"] == "alignment_head"
    asked = post(
        shared_server, "/v1/align", {"source": ENGLISH, "target": SPANISH, "links": "agreement"}
    )
    assert asked.status_code == 422
    assert asked.json()["error"]["code"] == "no_reverse_model"


def test_both_models_answer_under_concurrent_load(both: LiveServer) -> None:
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as client:
            calls: list[Callable[[], Any]] = []
            for n in range(24):
                text, pair = (ENGLISH, ("en", "es")) if n % 2 else (SPANISH, ("es", "en"))
                body = {"text": [text] * 4, "source_lang": pair[0], "target_lang": pair[1]}
                calls.append(lambda b=body: client.post(f"{both.url}/v1/translate", json=b))
            return await asyncio.gather(*(call() for call in calls))

    responses = asyncio.run(run())
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses[:3]]
    names = {r.json()["model"]["name"] for r in responses}
    assert names == {"tiny-en-es", "tiny-es-en"}
    metrics = httpx.get(f"{both.url}/metrics", timeout=30).text
    assert 'nmt_target_tokens_total{model="es-en"}' in metrics
    assert 'nmt_target_tokens_total{model="en-es"}' in metrics
