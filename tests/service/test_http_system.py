"""Health, models, metrics, API keys, OpenAPI and request ids on the real server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import LiveServer


def metric_samples(text: str) -> dict[str, float]:
    """Prometheus text format as ``{"name{labels}": value}`` (comments skipped)."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_liveness_and_readiness(shared_server: LiveServer) -> None:
    live = httpx.get(f"{shared_server.url}/health/live", timeout=10)
    ready = httpx.get(f"{shared_server.url}/health/ready", timeout=10)
    assert (live.status_code, live.json()["status"]) == (200, "alive")
    assert ready.status_code == 200
    body = ready.json()
    assert (body["status"], body["store"]) == ("ready", "ok")
    details = body["store_details"]
    assert (details["backend"], details["breaker"], details["dropped"]) == ("sqlite", "closed", 0)
    assert details["capacity"] == 4096


def test_models_describes_the_served_model(shared_server: LiveServer) -> None:
    response = httpx.get(f"{shared_server.url}/v1/models", timeout=10)
    assert response.status_code == 200
    [model] = response.json()["models"]
    assert (model["source_lang"], model["target_lang"]) == ("en", "es")
    assert model["name"] == "tiny-en-es"
    assert model["version"] == "test"
    assert model["execution_provider"] == "CPUExecutionProvider"
    assert model["scores"] == {"test": {"bleu_beam": 0.0}}
    assert model["sizes"]["encoder_hidden_size"] == 32
    assert model["sizes"]["src_vocab_size"] == 400
    assert (model["max_beam_size"], model["max_texts"], model["max_chars"]) == (10, 32, 2000)


def test_metrics_count_requests_batches_and_tokens(shared_server: LiveServer) -> None:
    url = shared_server.url
    before = metric_samples(httpx.get(f"{url}/metrics", timeout=10).text)
    ok = httpx.post(f"{url}/v1/translate", json={"text": ["God is love.", "Amen."]}, timeout=30)
    assert ok.status_code == 200
    target_tokens = sum(len(t["alignment"]["target_tokens"]) for t in ok.json()["translations"])
    bad = httpx.post(f"{url}/v1/translate", json={"text": ""}, timeout=30)
    assert bad.status_code == 422

    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE nmt_http_requests_total counter" in text
    assert "# TYPE nmt_http_request_duration_seconds histogram" in text
    assert "# TYPE nmt_batch_size_texts histogram" in text
    assert "# TYPE nmt_queue_depth_texts gauge" in text
    assert "# TYPE nmt_target_tokens_total counter" in text
    after = metric_samples(text)

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    route = 'method="POST",route="/v1/translate"'
    assert delta(f'nmt_http_requests_total{{{route},status="200"}}') == 1
    assert delta(f'nmt_http_requests_total{{{route},status="422"}}') == 1
    assert delta(f'nmt_http_request_duration_seconds_count{{{route},status="200"}}') == 1
    assert delta(f'nmt_http_request_duration_seconds_bucket{{le="+Inf",{route},status="200"}}') == 1
    assert delta('nmt_batch_size_texts_count{model="en-es"}') == 1
    assert delta('nmt_batch_size_texts_sum{model="en-es"}') == 2
    assert delta('nmt_target_tokens_total{model="en-es"}') == target_tokens
    assert after['nmt_queue_depth_texts{model="en-es"}'] == 0


def test_request_id_is_echoed(shared_server: LiveServer) -> None:
    given = httpx.get(
        f"{shared_server.url}/health/live", headers={"X-Request-ID": "trace-42.a_b"}, timeout=10
    )
    assert given.headers["x-request-id"] == "trace-42.a_b"
    made = httpx.get(f"{shared_server.url}/health/live", timeout=10).headers["x-request-id"]
    other = httpx.get(f"{shared_server.url}/health/live", timeout=10).headers["x-request-id"]
    assert made and other and made != other
    error = httpx.post(
        f"{shared_server.url}/v1/translate", json={}, headers={"X-Request-ID": "e1"}, timeout=10
    )
    assert (error.status_code, error.headers["x-request-id"]) == (422, "e1")


@pytest.mark.parametrize("bad", ["has space", "x" * 65, "semi;colon"])
def test_unsafe_request_ids_are_replaced(shared_server: LiveServer, bad: str) -> None:
    response = httpx.get(f"{shared_server.url}/health/live", headers={"X-Request-ID": bad})
    assert response.headers["x-request-id"] != bad
    assert len(response.headers["x-request-id"]) == 32


def test_openapi_documents_the_translate_request(shared_server: LiveServer) -> None:
    docs = httpx.get(f"{shared_server.url}/docs", timeout=10)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = httpx.get(f"{shared_server.url}/openapi.json", timeout=10).json()
    assert "/v1/translate" in schema["paths"]
    assert "/v1/translations/{doc_id}" in schema["paths"]
    request = schema["components"]["schemas"]["TranslateRequest"]
    fields = {
        "text",
        "source_lang",
        "target_lang",
        "beam_size",
        "n_best",
        "return_attention",
        "return_candidates",
        "link_rule",
        "format",
        "links",
        "target_prefix",
    }
    assert set(request["properties"]) == fields
    assert request["required"] == ["text"]
    assert all(request["properties"][f].get("description") for f in fields)
    assert "alignment" in schema["components"]["schemas"]["TranslationOut"]["properties"]
    assert "/v1/align" in schema["paths"]
    align = schema["components"]["schemas"]["AlignRequest"]
    assert set(align["required"]) == {"source", "target"}


@pytest.fixture
def keyed_server(start_server: Callable[..., LiveServer]) -> Iterator[LiveServer]:
    yield start_server(api_keys="k1, k2")


def test_api_keys_guard_the_v1_routes(keyed_server: LiveServer) -> None:
    url = keyed_server.url
    body = {"text": "Amen.", "beam_size": 1}
    missing = httpx.post(f"{url}/v1/translate", json=body, timeout=30)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert missing.headers["www-authenticate"] == "Bearer"
    for header in (
        "Bearer k3",
        "Bearer",
        "k1",
        "Basic k1",
        "Bearer k1k2",
        "Bearer k",
        "Bearer k1,k2",
    ):
        wrong = httpx.post(
            f"{url}/v1/translate", json=body, headers={"Authorization": header}, timeout=30
        )
        assert wrong.status_code == 401, header
        assert set(wrong.json()["error"]) == {"code", "message"}
    for key in ("k1", "k2"):
        right = httpx.post(
            f"{url}/v1/translate", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        assert right.status_code == 200, right.text
    doc_id = right.json()["translations"][0]["id"]
    assert httpx.get(f"{url}/v1/translations/{doc_id}", timeout=10).status_code == 401
    assert httpx.get(f"{url}/v1/models", timeout=10).status_code == 401
    authorized = {"Authorization": "bearer k2"}
    assert httpx.get(f"{url}/v1/translations/{doc_id}", headers=authorized).status_code == 200
    assert httpx.get(f"{url}/v1/models", headers=authorized, timeout=10).status_code == 200
    for open_path in ("/health/live", "/health/ready"):
        assert httpx.get(f"{url}{open_path}", timeout=10).status_code == 200
