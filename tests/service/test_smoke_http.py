"""The real server answers a translation end to end."""

import httpx

from tests.conftest import LiveServer


def test_translate_round_trip(shared_server: LiveServer) -> None:
    response = httpx.post(
        f"{shared_server.url}/v1/translate", json={"text": ["God is love.", "Amen."]}, timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [len(t["alignment"]["attention"]) for t in body["translations"]] == [
        len(t["alignment"]["target_tokens"]) for t in body["translations"]
    ]
    doc_id = body["translations"][0]["id"]
    fetched = httpx.get(f"{shared_server.url}/v1/translations/{doc_id}", timeout=10)
    assert fetched.status_code == 200
    assert fetched.json()["source"] == "God is love."
