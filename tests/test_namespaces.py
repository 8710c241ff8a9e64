"""Namespaces: one server, many tests, each in a world of its own (POST /_ojin/namespaces).

The isolation matrix (test_isolation.py) runs every keyed operation between two namespaces; here:
what a namespace is made of, that resetting or deleting one touches nothing outside it (records
and object bytes), that its keys are ordinary keys that stop working when it is deleted, and the
test controls scoped to it (fault rules, the journal)."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ojin_local.config import DEV_KEY
from tests.conftest import ADMIN_KEY, ALICE_KEY, TEST_CONFIG, Api, generate, wait_for_job

pytestmark = pytest.mark.every_database


@dataclass
class Namespace:
    body: dict[str, Any]
    client: Api
    other_client: Api

    @property
    def id(self) -> str:
        return self.body["namespace_id"]


@pytest.fixture
def namespaces(server, admin: Api, contract) -> Iterator[Any]:
    """Make namespaces on the shared server; each is deleted afterwards."""
    made: list[Namespace] = []

    def create(**body: Any) -> Namespace:
        response = admin.post("/_ojin/namespaces", json=body)
        assert response.status_code == 201, response.text
        created = response.json()
        namespace = Namespace(
            created,
            Api(server.url, contract, created["api_key"]),
            Api(server.url, contract, created["other_api_key"]),
        )
        made.append(namespace)
        return namespace

    yield create
    for namespace in made:
        admin.delete(f"/_ojin/namespaces/{namespace.id}")
        namespace.client.close()
        namespace.other_client.close()


def holdings(client: Api, http: httpx.Client) -> dict[str, Any]:
    """What an organization holds, as it reads it: configurations, assets and their bytes, jobs."""
    configs = client.get("/v1/model-configs", params={"limit": 100}).json()["data"]
    assets = client.get("/v1/assets", params={"limit": 100}).json()["data"]
    jobs = client.get("/v1/jobs", params={"limit": 100}).json()["data"]
    digests = {}
    for asset in assets:
        url = client.get(f"/v1/assets/{asset['asset_id']}/download").json()["asset_url"]
        digests[asset["asset_id"]] = hashlib.sha256(http.get(url).content).hexdigest()
    return {
        "configs": sorted(c["model_config_id"] for c in configs),
        "assets": digests,
        "jobs": sorted(j["job_id"] for j in jobs),
    }


def populate(client: Api, tag: str) -> dict[str, Any]:
    """A few dozen records of every kind, as a test leaves them."""
    configs = [client.create_config(title=f"{tag}-{n}") for n in range(3)]
    assets = [client.upload(f"{tag} bytes {n}".encode(), f"{tag}-{n}.png") for n in range(2)]
    session = client.start_upload(f"{tag}-open.png")
    client.put_parts(session, [b"left open"])
    return {"configs": configs, "assets": assets, "session": session}


def test_a_namespace_is_two_fresh_organizations_with_ordinary_keys(namespaces, admin) -> None:
    namespace = namespaces(name="test_checkout")
    body = namespace.body
    assert re.fullmatch(r"ns_[0-9a-f]{16}", body["namespace_id"])
    assert body["name"] == "test_checkout"
    assert body["organization_id"] != body["other_organization_id"]
    assert body["api_key"] != body["other_api_key"]
    for client in (namespace.client, namespace.other_client):
        assert client.get("/v1/model-configs").json()["pagination"]["total_items"] == 0
        assert client.get("/v1/assets").json()["pagination"]["total_items"] == 0
        # The template organization is shared, and read-only to them as to everyone.
        templates = client.get("/v1/model-configs", params={"source": "template"}).json()
        assert templates["data"]
        template = templates["data"][0]["model_config_id"]
        refused = client.put(
            f"/v1/model-configs/{template}", json={"title": "mine", "model_configurations": {}}
        )
        assert refused.status_code == 403
        assert client.post("/_ojin/reset").status_code == 403  # not admin keys
        me = client.get("/_ojin/whoami").json()
        assert (me["namespace_id"], me["admin"]) == (namespace.id, False)
    assert namespaces().body["name"] is None  # the name is optional

    listed = admin.get("/_ojin/namespaces").json()["data"]
    mine = next(item for item in listed if item["namespace_id"] == namespace.id)
    assert mine == {k: v for k, v in body.items() if k not in ("api_key", "other_api_key")}


def test_a_bad_name_is_refused_and_makes_nothing(admin) -> None:
    before = len(admin.get("/_ojin/namespaces").json()["data"])
    for body in ({"name": "line\nbreak"}, {"name": ""}, {"label": "x"}, {"name": 7}):
        refused = admin.post("/_ojin/namespaces", json=body)
        assert refused.status_code == 400, body
        assert refused.json()["code"] == "VALIDATION_ERROR"
    assert len(admin.get("/_ojin/namespaces").json()["data"]) == before


def test_namespaces_and_outside_organizations_never_see_each_other(namespaces, alice) -> None:
    first, second = namespaces(), namespaces()
    made = {
        "alice": (alice, alice.create_config(), alice.upload(b"alice", "a.png")),
        "first": (first.client, first.client.create_config(), first.client.upload(b"1", "1.png")),
        "first other": (
            first.other_client,
            first.other_client.create_config(),
            first.other_client.upload(b"1b", "1b.png"),
        ),
        "second": (second.client, second.client.create_config(), second.client.upload(b"2")),
    }
    for owner, (_, config, asset) in made.items():
        for reader, (client, _, _) in made.items():
            config_read = client.get(f"/v1/model-configs/{config['model_config_id']}")
            asset_read = client.get(f"/v1/assets/{asset['asset_id']}")
            expected = 200 if reader == owner else 404
            assert (config_read.status_code, asset_read.status_code) == (expected, expected)


def test_resetting_a_namespace_empties_it_and_touches_nothing_else(
    namespaces, admin, alice
) -> None:
    doomed, kept = namespaces(), namespaces()
    populate(doomed.client, "doomed")
    left = populate(doomed.other_client, "doomed-other")
    populate(kept.client, "kept")
    populate(alice, "alice")
    source = template_image(doomed.client)
    with httpx.Client(timeout=30) as http:
        before = {
            "kept": holdings(kept.client, http),
            "alice": holdings(alice, http),
            "templates": template_count(alice),
        }
        session = left["session"]
        leftover = left["assets"][0]["asset_id"]
        doomed_url = doomed.other_client.get(f"/v1/assets/{leftover}/download").json()["asset_url"]
        add_fault_for(admin, doomed.id, "listJobs", 503)
        add_fault_for(admin, kept.id, "listJobs", 503)

        reset = admin.post(f"/_ojin/namespaces/{doomed.id}/reset")
        assert reset.status_code == 204

        journal = admin.get("/_ojin/requests", params={"namespace_id": doomed.id}).json()
        assert journal["data"] == []  # its journal entries went
        rules = admin.get("/_ojin/faults").json()["data"]
        assert [rule["namespace_id"] for rule in rules] == [kept.id]  # and its fault rules
        for client in (doomed.client, doomed.other_client):  # the keys stay
            assert holdings(client, http) == {"configs": [], "assets": {}, "jobs": []}
        assert http.get(doomed_url).status_code == 404  # the object's bytes are gone
        sign = {"asset_id": session["asset_id"], "upload_id": session["upload_id"]}
        reopened = doomed.other_client.post("/v1/assets/sign-part", json={**sign, "part_number": 2})
        assert reopened.status_code == 404  # the upload session too
        assert generate(doomed.client, source)  # and it is usable at once
        after = {
            "kept": holdings(kept.client, http),
            "alice": holdings(alice, http),
            "templates": template_count(alice),
        }
    admin.delete("/_ojin/faults")
    assert after == before


def test_a_reset_drops_the_namespaces_queued_jobs(make_server, api, tmp_path) -> None:
    """A job waiting on the queue (held back by the delay) never runs once its namespace is
    reset: not when its time comes, not when the clock is moved past it."""
    config = tmp_path / "delayed.toml"
    config.write_text(TEST_CONFIG + "\n[jobs]\nidle_video_delay_seconds = 60\n")
    server = make_server("--config", str(config))
    admin = api(server, ADMIN_KEY)
    created = admin.post("/_ojin/namespaces").json()
    member, bystander = api(server, created["api_key"]), api(server, ALICE_KEY)
    source = template_image(member)
    waiting, kept = generate(member, source), generate(bystander, source)
    assert admin.post(f"/_ojin/namespaces/{created['namespace_id']}/reset").status_code == 204
    assert member.get(f"/v1/jobs/{waiting}").status_code == 404
    moved = admin.post("/_ojin/clock", json={"advance_seconds": 61})
    assert moved.status_code == 200
    assert wait_for_job(bystander, kept)["status"] == "succeeded"  # the clock moved it along
    assert member.get("/v1/assets").json()["pagination"]["total_items"] == 0
    assert member.get("/v1/jobs").json()["pagination"]["total_items"] == 0


def template_count(client: Api) -> int:
    return client.get("/v1/assets", params={"source": "template"}).json()["pagination"][
        "total_items"
    ]


def template_image(client: Api) -> str:
    images = client.get("/v1/assets", params={"source": "template", "category": "image"})
    return images.json()["data"][0]["asset_id"]


def add_fault_for(admin: Api, namespace_id: str, operation_id: str, status: int) -> dict:
    response = admin.post(
        "/_ojin/faults",
        json={"operation_id": operation_id, "status": status, "namespace_id": namespace_id},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_deleting_a_namespace_revokes_its_keys_and_keeps_others(namespaces, admin) -> None:
    gone, kept = namespaces(), namespaces()
    asset = gone.client.upload(b"soon gone", "gone.png")
    kept_asset = kept.client.upload(b"kept", "kept.png")
    with httpx.Client(timeout=30) as http:
        url = gone.client.get(f"/v1/assets/{asset['asset_id']}/download").json()["asset_url"]
        assert admin.delete(f"/_ojin/namespaces/{gone.id}").status_code == 204
        for client in (gone.client, gone.other_client):
            refused = client.get("/v1/model-configs")
            assert refused.status_code == 401
            assert refused.json()["code"] == "UNAUTHORIZED"
        assert http.get(url).status_code == 404
        assert kept.client.get(f"/v1/assets/{kept_asset['asset_id']}").status_code == 200
    listed = {item["namespace_id"] for item in admin.get("/_ojin/namespaces").json()["data"]}
    assert gone.id not in listed and kept.id in listed
    for method, path in (
        ("DELETE", f"/_ojin/namespaces/{gone.id}"),
        ("POST", f"/_ojin/namespaces/{gone.id}/reset"),
        ("GET", f"/_ojin/namespaces/{gone.id}/clock"),
    ):
        missing = admin.request(method, path)
        assert missing.status_code == 404, (method, path)
        assert missing.json()["code"] == "RESOURCE_NOT_FOUND"


def test_fault_rules_scoped_to_a_namespace_touch_its_requests(namespaces, admin, alice) -> None:
    scoped, bystander = namespaces(), namespaces()
    rule = add_fault_for(admin, scoped.id, "listModelConfigs", 503)
    try:
        assert rule["namespace_id"] == scoped.id
        assert scoped.client.get("/v1/model-configs").status_code == 503
        assert scoped.other_client.get("/v1/model-configs").status_code == 503  # both its keys
        assert bystander.client.get("/v1/model-configs").status_code == 200
        assert alice.get("/v1/model-configs").status_code == 200
        unknown = admin.post(
            "/_ojin/faults",
            json={"operation_id": "listAssets", "status": 500, "namespace_id": "ns_" + "0" * 16},
        )
        assert unknown.status_code == 404
        assert [r["fault_id"] for r in admin.get("/_ojin/faults").json()["data"]] == [
            rule["fault_id"]
        ]
    finally:
        admin.delete("/_ojin/faults")


def test_the_journal_filters_by_namespace(namespaces, admin, alice) -> None:
    first, second = namespaces(), namespaces()
    first.client.get("/v1/model-configs")
    first.other_client.get("/v1/assets")
    second.client.get("/v1/jobs")
    alice.get("/v1/model-variants")
    entries = admin.get("/_ojin/requests", params={"namespace_id": first.id}).json()["data"]
    assert [(e["path"], e["organization_id"]) for e in entries] == [
        ("/v1/assets", first.body["other_organization_id"]),
        ("/v1/model-configs", first.body["organization_id"]),
    ]
    assert {e["namespace_id"] for e in entries} == {first.id}
    alices = admin.get("/_ojin/requests", params={"organization_id": "org_alice"}).json()["data"]
    assert alices and all(e["namespace_id"] is None for e in alices)


def test_namespace_keys_leave_the_development_key_on(make_server, api) -> None:
    """The development key works while no real key exists; a namespace's keys are scaffolding."""
    server = make_server()
    dev = api(server, DEV_KEY)
    created = dev.post("/_ojin/namespaces")
    assert created.status_code == 201
    time.sleep(1.1)  # the development key's state is rechecked at most once a second
    assert dev.get("/v1/model-configs").status_code == 200
    with api(server, created.json()["api_key"]) as member:
        assert member.get("/v1/model-configs").status_code == 200
    assert api(server, ALICE_KEY).get("/v1/model-configs").status_code == 401
