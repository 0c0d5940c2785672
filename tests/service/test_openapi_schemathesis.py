"""Schemathesis over the OpenAPI document of the real server: generated requests for every
operation, then sequences that follow the documented links (translate -> fetch and heatmaps).
No 5xx, and no response that contradicts the schema."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import LiveServer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
BOUNDED = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def api_schema(shared_server: LiveServer) -> Any:
    return schemathesis.openapi.from_url(f"{shared_server.url}/openapi.json")


def test_every_operation_answers_within_its_schema(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @BOUNDED
        def answers_within_schema(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        answers_within_schema()


def test_translate_links_to_the_fetch_and_heatmap_routes(shared_server: LiveServer) -> None:
    document = httpx.get(f"{shared_server.url}/openapi.json").json()
    links = document["paths"]["/v1/translate"]["post"]["responses"]["200"]["links"]
    operations = {
        op["operationId"]: path
        for path, item in document["paths"].items()
        for op in item.values()
        if "operationId" in op
    }
    assert {operations[link["operationId"]] for link in links.values()} == {
        "/v1/translations/{doc_id}",
        "/v1/translations/{doc_id}/alignment.svg",
        "/v1/translations/{doc_id}/alignment.png",
    }
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]


def fetched_documents(server: LiveServer) -> float:
    """Successful GET /v1/translations/{doc_id} so far, from the server's own metrics."""
    text = httpx.get(f"{server.url}/metrics").text
    pattern = re.compile(
        r'^nmt_http_requests_total\{method="GET",route="/v1/translations/\{doc_id\}",'
        r'status="200"\} (\S+)$',
        re.MULTILINE,
    )
    return sum(float(match) for match in pattern.findall(text))


def test_stateful_sequences_follow_the_links(api_schema: Any, shared_server: LiveServer) -> None:
    before = fetched_documents(shared_server)
    machine = api_schema.as_state_machine()

    class Checked(machine):  # type: ignore[misc,valid-type]
        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Checked.run(
        settings=settings(
            max_examples=100,
            stateful_step_count=4,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
    assert fetched_documents(shared_server) > before  # a link led to a stored document


def schema_and_server(server: LiveServer, body: dict[str, Any]) -> tuple[bool, int]:
    """Whether the served schema of /v1/translate allows ``body``, and the server's status."""
    document = httpx.get(f"{server.url}/openapi.json").json()
    schema = {"$ref": "#/components/schemas/TranslateRequest", **document}
    response = httpx.post(f"{server.url}/v1/translate", json=body, timeout=60)
    return jsonschema.Draft202012Validator(schema).is_valid(body), response.status_code


@pytest.mark.parametrize(
    "body",
    [
        {"text": "In the beginning.", "target_prefix": ["En"]},  # a list for a string text
        {"text": ["In the beginning.", "And God said."], "target_prefix": ["En"]},  # too short
        {"text": "In the <b>beginning</b>.", "format": "html", "target_prefix": "En"},
        {"text": "In the beginning.", "target_prefix": " "},
        {"text": "In the beginning.", "links": "agreement", "link_rule": "argmax"},
    ],
)
def test_the_schema_refuses_what_the_server_refuses(
    shared_server: LiveServer, body: dict[str, Any]
) -> None:
    assert schema_and_server(shared_server, body) == (False, 422)


@pytest.mark.parametrize(
    "body",
    [
        {"text": ["In the beginning.", "And God said."], "target_prefix": ["En el", None]},
        {"text": "In the beginning.", "beam_size": 2.0, "n_best": 2.0},  # JSON's integers
        {"text": "In the <b>beginning</b>.", "format": "html", "links": "forward"},
    ],
)
def test_the_server_accepts_what_the_schema_accepts(
    shared_server: LiveServer, body: dict[str, Any]
) -> None:
    assert schema_and_server(shared_server, body) == (True, 200)
