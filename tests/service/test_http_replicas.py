"""Two replicas of the service share one Redis alignment store."""

import httpx

from tests.conftest import LiveServer


def test_translation_made_on_one_replica_is_fetched_from_the_other(
    start_server: object, redis_server: str
) -> None:
    assert callable(start_server)
    first: LiveServer = start_server(redis_url=redis_server, store_path="/nonexistent/a.db")
    second: LiveServer = start_server(redis_url=redis_server, store_path="/nonexistent/b.db")
    response = httpx.post(
        f"{first.url}/v1/translate", json={"text": "The Lord is my shepherd."}, timeout=30
    )
    assert response.status_code == 200, response.text
    made = response.json()["translations"][0]
    assert made["stored"] is True

    fetched = httpx.get(f"{second.url}/v1/translations/{made['id']}", timeout=10)
    assert fetched.status_code == 200, fetched.text
    document = fetched.json()
    assert document["id"] == made["id"]
    assert document["text"] == made["text"]
    assert document["alignment"] == made["alignment"]
    svg = httpx.get(f"{second.url}/v1/translations/{made['id']}/alignment.svg", timeout=10)
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
