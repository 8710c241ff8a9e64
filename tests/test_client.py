"""ojin_local.client against a live server: every operation, the upload and download helpers,
jobs, the admin helpers, and errors as OjinApiError."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ojin_local.client import OjinApiError, OjinClient
from ojin_local.config import DEV_KEY
from ojin_local.domain.portraits import portrait_png
from tests.conftest import ADMIN_KEY, ALICE_KEY, BOB_KEY, Server
from tests.contract import Contract, ContractTransport

MIB = 1024 * 1024


@pytest.fixture
def client_for(server: Server, contract: Contract) -> Iterator:
    made: list[OjinClient] = []

    def make(key: str | None, running: Server = server) -> OjinClient:
        client = OjinClient(f"{running.url}/v1", key, transport=ContractTransport(contract))
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_model_variants_and_configs(client_for) -> None:
    ojin = client_for(ALICE_KEY)
    variants = ojin.list_model_variants(tags=["real-time"], limit=2)
    assert variants["pagination"]["limit"] == 2
    assert ojin.get_model_variant("ojin/oris-1.0/standard")["model_variant_id"] == (
        "ojin/oris-1.0/standard"
    )
    made = ojin.create_model_config(f"client-{uuid.uuid4().hex[:8]}", "ojin/oris-1.0/standard")
    config_id = made["model_config_id"]
    assert ojin.get_model_config(config_id) == made
    renamed = ojin.update_model_config(config_id, made["title"] + "-2", {})
    assert renamed["title"].endswith("-2")
    listed = ojin.list_model_configs(model_variant_id="ojin/oris-1.0/standard", limit=100)
    assert config_id in {c["model_config_id"] for c in listed["data"]}
    assert ojin.list_model_configs(source="template")["pagination"]["total_items"] >= 1
    assert ojin.get_public_model_config(config_id)["model_config_id"] == config_id
    ojin.delete_model_config(config_id)
    with pytest.raises(OjinApiError) as missing:
        ojin.get_model_config(config_id)
    assert (missing.value.status, missing.value.code) == (404, "RESOURCE_NOT_FOUND")


def test_upload_file_in_parallel_parts_and_download_it(client_for, tmp_path: Path) -> None:
    ojin = client_for(ALICE_KEY)
    source = tmp_path / "clip.bin"
    source.write_bytes(os.urandom(11 * MIB + 123))
    seen: list[int] = []
    asset = ojin.upload_file(
        source, "weight", part_size=5 * MIB, concurrency=3, progress=seen.append
    )
    assert asset["size_bytes"] == source.stat().st_size
    assert asset["etag"].endswith('-3"')
    assert sorted(seen) == sorted([5 * MIB, 5 * MIB, MIB + 123])
    target = tmp_path / "copy.bin"
    ojin.download_asset(asset["asset_id"], target)
    assert target.read_bytes() == source.read_bytes()
    assert ojin.get_asset(asset["asset_id"]) == asset
    assert ojin.get_public_asset(asset["asset_id"])["asset_id"] == asset["asset_id"]
    assert asset["asset_id"] in {a["asset_id"] for a in ojin.list_assets(name="clip")["data"]}
    ojin.delete_asset(asset["asset_id"])
    with pytest.raises(OjinApiError):
        ojin.get_asset(asset["asset_id"])
    with pytest.raises(ValueError, match="part_size"):
        ojin.upload_file(source, "weight", part_size=MIB)


def test_generate_and_wait_for_a_job(client_for, tmp_path: Path) -> None:
    ojin = client_for(ALICE_KEY)
    image = tmp_path / "face.png"
    image.write_bytes(portrait_png(1))
    asset = ojin.upload_file(image, "image")
    polled: list[dict] = []
    started = ojin.generate_idle_video(asset["asset_id"], "v2")
    job = ojin.wait_for_job(started["job_id"], on_poll=polled.append)
    assert job["status"] == "succeeded" and polled[-1] == job
    assert ojin.get_asset(job["result"]["asset_id"])["content_type"] == "video/mp4"
    assert job["job_id"] in {j["job_id"] for j in ojin.list_jobs(status="succeeded")["data"]}
    with pytest.raises(OjinApiError) as other:
        client_for(BOB_KEY).get_job(job["job_id"])
    assert other.value.status == 404


def test_errors_carry_the_error_response(client_for) -> None:
    with pytest.raises(OjinApiError) as bad:
        client_for(ALICE_KEY).create_model_config("", "ojin/oris-1.0/standard")
    assert bad.value.status == 400 and bad.value.code == "VALIDATION_ERROR"
    assert bad.value.details["errors"][0]["field"] == "title"
    with pytest.raises(OjinApiError) as unauthorized:
        client_for("sk-wrong").list_assets()
    assert unauthorized.value.code == "UNAUTHORIZED"


def test_admin_helpers(client_for) -> None:
    admin, alice = client_for(ADMIN_KEY), client_for(ALICE_KEY)
    assert admin.health()["status"] in ("ok", "degraded")
    rule = admin.add_fault(operation_id="listAssets", status=503, times=1)
    assert [r["fault_id"] for r in admin.list_faults()] == [rule["fault_id"]]
    with pytest.raises(OjinApiError) as injected:
        alice.list_assets()
    assert injected.value.code == "SERVICE_UNAVAILABLE"
    admin.add_fault(path="/v1/jobs", status=500)
    admin.clear_faults()
    assert admin.list_faults() == []
    admin.clear_requests()
    alice.list_jobs()
    assert [e["operation_id"] for e in admin.list_requests()] == ["ojinListJobs"]


def test_reset(make_server, client_for) -> None:
    running = make_server()
    ojin = client_for("ojin-local-dev-key", running)
    ojin.create_model_config("to be reset", "ojin/oris-1.0/standard")
    ojin.reset()
    assert ojin.list_model_configs()["data"] == []


def test_namespaces_and_their_clocks(make_server, client_for) -> None:
    running = make_server()
    admin = OjinClient(running.url, DEV_KEY, transport=ContractTransport(Contract()))  # no /v1
    made = admin.create_namespace("from the client")
    namespace_id = made["namespace_id"]
    assert namespace_id in {n["namespace_id"] for n in admin.list_namespaces()}
    inside = client_for(made["api_key"], running)
    inside.create_model_config("in the namespace", "ojin/oris-1.0/standard")
    assert admin.advance_clock(60, namespace_id)["offset_seconds"] == 60
    assert admin.get_clock()["offset_seconds"] == 0
    assert admin.get_clock(namespace_id)["offset_seconds"] == 60
    assert admin.advance_clock(30)["offset_seconds"] == 30
    assert admin.reset_clock(namespace_id)["offset_seconds"] == 30
    assert admin.reset_clock()["offset_seconds"] == 0
    admin.reset_namespace(namespace_id)
    assert inside.list_model_configs()["data"] == []
    admin.delete_namespace(namespace_id)
    with pytest.raises(OjinApiError) as revoked:
        inside.list_model_configs()
    assert revoked.value.status == 401
    admin.close()


def test_one_journal_entry_whole(client_for) -> None:
    admin, alice = client_for(ADMIN_KEY), client_for(ALICE_KEY)
    request_id = f"client-{uuid.uuid4().hex[:12]}"
    alice.request("GET", "/jobs", headers={"X-Request-Id": request_id})
    entry = admin.get_request(request_id)
    assert entry["request_id"] == request_id and entry["path"] == "/v1/jobs"
    assert "x-api-key" not in {name.lower() for name in entry["request_headers"]}
