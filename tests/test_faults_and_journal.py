"""Fault injection and the request journal, seen from a client as a user's test would see them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Api


@pytest.fixture
def faults(admin: Api) -> Iterator[Api]:
    """The admin client; every fault rule is removed afterwards, so other tests are unaffected."""
    yield admin
    assert admin.delete("/_ojin/faults").status_code == 204


def add_fault(admin: Api, **rule: object) -> dict:
    response = admin.post("/_ojin/faults", json=rule)
    assert response.status_code == 201, response.text
    return response.json()


def test_an_injected_error_answers_the_spec_error_shape_then_expires(faults, alice) -> None:
    rule = add_fault(faults, operation_id="listModelConfigs", status=503, times=2)
    assert uuid.UUID(rule["fault_id"]) and rule["code"] == "SERVICE_UNAVAILABLE"
    for _ in range(2):
        failed = alice.get("/v1/model-configs")
        assert failed.status_code == 503
        assert failed.json()["code"] == "SERVICE_UNAVAILABLE"
    assert alice.get("/v1/model-configs").status_code == 200  # spent after two hits
    assert faults.get("/_ojin/faults").json()["data"] == []


def test_a_rule_matches_by_method_and_path_glob_only(faults, alice) -> None:
    add_fault(faults, method="GET", path="/v1/assets*", status=429, code="RATE_LIMITED")
    assert alice.get("/v1/assets").json()["code"] == "RATE_LIMITED"
    assert alice.get("/v1/model-configs").status_code == 200
    assert alice.post("/v1/assets/initiate-upload", json={}).status_code == 400  # not a GET
    assert faults.get("/_ojin/health").status_code == 200  # local routes are never faulted


def test_latency_is_added_before_answering(faults, alice) -> None:
    add_fault(faults, operation_id="listModelVariants", latency_ms=300)
    started = time.perf_counter()
    assert alice.get("/v1/model-variants").status_code == 200
    assert time.perf_counter() - started >= 0.3
    with pytest.raises(httpx.ReadTimeout):
        alice.get("/v1/model-variants", timeout=0.1)


def test_a_dropped_connection_is_seen_by_the_client(faults, alice) -> None:
    add_fault(faults, operation_id="getModelVariantById", drop_connection=True, times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        alice.get("/v1/model-variants/ojin/oris-1.0/standard")
    assert alice.get("/v1/model-variants/ojin/oris-1.0/standard").status_code == 200


def test_probability_decides_how_often_a_rule_fires(faults, alice) -> None:
    add_fault(faults, operation_id="listAssets", status=500, probability=0.5)
    statuses = [alice.get("/v1/assets").status_code for _ in range(60)]
    assert 10 <= statuses.count(500) <= 50 and statuses.count(200) == 60 - statuses.count(500)


def test_rules_are_listed_and_removed_one_by_one(faults, alice) -> None:
    first = add_fault(faults, path="/v1/jobs", status=503)
    second = add_fault(faults, path="/v1/jobs/*", status=504)
    listed = faults.get("/_ojin/faults").json()["data"]
    assert [r["fault_id"] for r in listed] == [first["fault_id"], second["fault_id"]]
    assert faults.delete(f"/_ojin/faults/{first['fault_id']}").status_code == 204
    assert faults.delete(f"/_ojin/faults/{first['fault_id']}").status_code == 404
    assert alice.get("/v1/jobs").status_code == 200
    assert alice.get(f"/v1/jobs/{uuid.uuid4()}").status_code == 504


@pytest.mark.parametrize(
    ("rule", "fields"),
    [
        ({"status": 503}, {"operation_id"}),
        ({"operation_id": "listAssets"}, {"status"}),
        ({"path": "v1/assets", "status": 503}, {"path"}),
        ({"path": "/v1/assets", "status": 200}, {"status"}),
        ({"path": "/v1/assets", "status": 503, "probability": 0}, {"probability"}),
        ({"path": "/v1/assets", "status": 503, "times": 0}, {"times"}),
        ({"path": "/v1/assets", "latency_ms": True}, {"latency_ms"}),
        ({"path": "/v1/assets", "status": 503, "colour": "red"}, {"colour"}),
    ],
)
def test_bad_rules_are_refused_and_add_nothing(faults, rule: dict, fields: set) -> None:
    response = faults.post("/_ojin/faults", json=rule)
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["details"]["errors"]} == fields
    assert faults.get("/_ojin/faults").json()["data"] == []


def test_the_journal_shows_what_a_client_called(admin, alice, bob) -> None:
    assert admin.delete("/_ojin/requests").status_code == 204
    alice.get("/v1/model-configs", params={"limit": 5})
    bob.get(f"/v1/assets/{uuid.uuid4()}")
    alice.post("/v1/model-configs", json={})
    entries = admin.get("/_ojin/requests").json()["data"]
    assert [(e["method"], e["path"], e["operation_id"], e["status"]) for e in entries] == [
        ("POST", "/v1/model-configs", "createModelConfig", 400),
        ("GET", entries[1]["path"], "getAssetById", 404),
        ("GET", "/v1/model-configs", "listModelConfigs", 200),
    ]
    assert [e["organization_id"] for e in entries] == ["org_alice", "org_bob", "org_alice"]
    assert all(e["duration_ms"] > 0 and e["request_id"] for e in entries)
    mine = admin.get("/_ojin/requests", params={"organization_id": "org_bob"}).json()["data"]
    assert [e["operation_id"] for e in mine] == ["getAssetById"]
    creates = admin.get("/_ojin/requests", params={"method": "post", "path": "/v1/model-*"})
    assert [e["status"] for e in creates.json()["data"]] == [400]
    assert admin.get("/_ojin/requests", params={"status": 200, "limit": 1}).json()["data"][0][
        "operation_id"
    ] == ("listModelConfigs")
    assert admin.get("/_ojin/requests", params={"limit": 0}).status_code == 400
    assert admin.delete("/_ojin/requests").status_code == 204
    assert admin.get("/_ojin/requests").json()["data"] == []


def test_the_journal_records_injected_faults_and_storage_requests(faults, alice) -> None:
    assert faults.delete("/_ojin/requests").status_code == 204
    add_fault(faults, operation_id="listAssets", drop_connection=True, times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        alice.get("/v1/assets")
    alice.upload(b"journaled")
    entries = faults.get("/_ojin/requests").json()["data"]
    assert ("listAssets", 444) in {(e["operation_id"], e["status"]) for e in entries}
    assert "ojinStoragePutPart" in {e["operation_id"] for e in entries}


def entry_of(admin: Api, response: httpx.Response) -> dict:
    """The journal's whole entry for a response, by the request id it answered with."""
    found = admin.get(f"/_ojin/requests/{response.headers['x-request-id']}")
    assert found.status_code == 200, found.text
    return found.json()


def test_an_entry_keeps_bodies_query_and_headers_without_secrets(admin, alice) -> None:
    created = alice.post(
        "/v1/model-configs",
        params={"trace": "yes"},
        json={"title": "journaled", "model_variant_id": "ojin/oris-1.0/standard"},
        headers={"Cookie": "session=secret-cookie", "Authorization": "Bearer secret-token"},
    )
    entry = entry_of(admin, created)
    assert (entry["method"], entry["path"], entry["query"], entry["status"]) == (
        "POST",
        "/v1/model-configs",
        "trace=yes",
        201,
    )
    assert entry["request_body"]["json"] == {
        "title": "journaled",
        "model_variant_id": "ojin/oris-1.0/standard",
    }
    assert entry["response_body"]["json"] == created.json()
    assert entry["response_body"]["truncated"] is False
    assert entry["request_headers"]["content-type"] == "application/json"
    assert entry["response_headers"]["content-type"] == "application/json"
    assert entry["response_headers"]["x-request-id"] == created.headers["x-request-id"]
    text = str(entry).lower()
    for secret in ("x-api-key", "sk-test-alice", "cookie", "secret-token", "authorization"):
        assert secret not in text, secret


def test_signatures_of_presigned_urls_never_reach_the_journal(admin, alice) -> None:
    session = alice.start_upload()
    signed = alice.post(
        "/v1/assets/sign-part",
        json={"asset_id": session["asset_id"], "upload_id": session["upload_id"], "part_number": 1},
    )
    url = signed.json()["upload_url"]
    put = httpx.put(url, content=b"part bytes")
    signature = httpx.URL(url).params["X-Ojin-Signature"]
    for response in (signed, put):
        entry = entry_of(admin, response)
        assert signature not in str(entry)
    stored = entry_of(admin, put)
    assert stored["operation_id"] == "ojinStoragePutPart"
    assert "X-Ojin-Expires=" in stored["query"] and "Signature" not in stored["query"]
    assert stored["request_body"] == {
        "content_type": None,
        "size_bytes": 10,
        "truncated": False,
    }  # not JSON: its size only
    sign_answer = entry_of(admin, signed)["response_body"]["json"]
    assert sign_answer["upload_url"].startswith(url.split("X-Ojin-Signature")[0])


def test_a_long_json_body_is_cut_and_marked(admin, alice) -> None:
    title = "x" * (100 * 1024)
    refused = alice.post(
        "/v1/model-configs", json={"title": title, "model_variant_id": "ojin/oris-1.0/standard"}
    )
    assert refused.status_code == 400
    body = entry_of(admin, refused)["request_body"]
    assert body["truncated"] is True and "json" not in body
    assert body["size_bytes"] > 100 * 1024 and len(body["text"].encode()) == 64 * 1024
    missing = admin.get(f"/_ojin/requests/{uuid.uuid4().hex}")
    assert missing.status_code == 404 and missing.json()["code"] == "RESOURCE_NOT_FOUND"


def test_the_journal_stays_bounded(admin, alice) -> None:
    """At most 1,000 entries, however many requests come, and at most 32 MiB of their bodies:
    past that, the oldest entries keep their place and lose their bodies."""
    body = {"title": "y" * 60_000, "model_variant_id": "ojin/oris-1.0/standard"}
    with httpx.Client(base_url=alice.base_url, headers=alice.headers) as fast:
        answers = [fast.post("/v1/model-configs", json=body) for _ in range(1_050)]
    entries = admin.get("/_ojin/requests", params={"limit": 1000}).json()["data"]
    assert len(entries) == 1000
    assert entries[-1]["request_id"] == answers[50].headers["x-request-id"]
    newest, oldest = entry_of(admin, answers[-1]), entry_of(admin, answers[50])
    assert newest["request_body"]["truncated"] is False
    assert newest["request_body"]["json"]["title"] == body["title"]
    assert oldest["request_body"]["truncated"] is True and oldest["request_body"]["text"] == ""
    assert oldest["request_body"]["size_bytes"] == newest["request_body"]["size_bytes"]
