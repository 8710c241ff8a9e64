"""Every error is an ErrorResponse: unknown routes, methods, bodies, keys, and crashes."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from tests.conftest import Api, Server, wait_until


@pytest.mark.parametrize("path", ["/v1/nothing-here", "/nothing", "/v1/model-configs/a/b/c"])
def test_unknown_routes_are_404_with_or_without_a_key(
    alice: Api, anonymous: Api, path: str
) -> None:
    for client in (alice, anonymous):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "RESOURCE_NOT_FOUND"


def test_wrong_method_is_405_with_allow(alice: Api) -> None:
    response = alice.patch("/v1/model-configs", json={})
    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"
    # OPTIONS: the CORS preflight ([server] cors_origins), an operation of the path too.
    assert set(response.headers["allow"].split(", ")) == {"GET", "OPTIONS", "POST"}


def count_configs(client: Api) -> int:
    return client.get("/v1/model-configs", params={"limit": 1}).json()["pagination"]["total_items"]


def test_a_body_that_is_not_json_is_415(alice: Api) -> None:
    before = count_configs(alice)
    response = alice.post(
        "/v1/model-configs",
        content=b"title=x&model_variant_id=ojin/oris-1.0/standard",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert count_configs(alice) == before


def test_json_without_a_content_type_is_accepted(alice: Api) -> None:
    body = b'{"title": "%s", "model_variant_id": "ojin/oris-1.0/fast"}' % uuid.uuid4().hex.encode()
    response = alice.post("/v1/model-configs", content=body, headers={"content-type": ""})
    assert response.status_code == 201


def test_every_response_carries_a_request_id_and_is_logged(alice: Api, server: Server) -> None:
    response = alice.get("/v1/model-configs")
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32
    line = wait_until(lambda: next((x for x in server.output if request_id in x), None))
    assert line is not None
    assert "GET /v1/model-configs 200 " in line
    assert "ms" in line


def test_a_sane_client_request_id_is_kept_and_a_bad_one_replaced(alice: Api) -> None:
    kept = alice.get("/v1/model-variants", headers={"X-Request-Id": "client-trace-42"})
    assert kept.headers["x-request-id"] == "client-trace-42"
    replaced = alice.get("/v1/model-variants", headers={"X-Request-Id": "bad id!" * 40})
    assert replaced.headers["x-request-id"] != "bad id!" * 40


def test_an_unexpected_failure_is_a_500_without_a_traceback(make_server, api) -> None:
    server = make_server()
    client = api(server, "ojin-local-dev-key")
    assert client.get("/v1/model-configs").status_code == 200
    with sqlite3.connect(server.data_dir / "ojin-local.sqlite3") as db:
        db.execute("ALTER TABLE model_config RENAME TO model_config_gone")
    response = client.get("/v1/model-configs")
    assert response.status_code == 500
    error = response.json()
    assert error["code"] == "INTERNAL_ERROR"
    assert error["details"]["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    assert "model_config" not in response.text
    logged = wait_until(lambda: "Traceback" in server.log and "no such table" in server.log)
    assert logged, server.log
    assert f"request {error['details']['request_id']} failed" in server.log


def test_a_kept_alive_connection_is_still_usable_after_errors(alice: Api) -> None:
    assert alice.get("/nope").status_code == 404
    assert alice.post("/v1/model-configs", content=b"{").status_code == 400
    assert alice.get("/v1/model-variants").status_code == 200
