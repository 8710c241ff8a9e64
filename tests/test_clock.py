"""The virtual clock (POST /_ojin/clock, POST /_ojin/namespaces/{id}/clock): time-dependent
behaviour tested without waiting. Everything that reads time for an organization follows its
clock: timestamps, pre-signed URL expiry, upload-session expiry and its collection, delayed jobs.

Each test runs on a server of its own (the shared server's clock stays at real time)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    ADMIN_KEY,
    ALICE_KEY,
    TEST_CONFIG,
    Api,
    configured_server,
    generate,
    wait_for_job,
)

SETTINGS = """
[storage]
presign_expires_seconds = 900
upload_session_ttl_seconds = 3600

[jobs]
idle_video_delay_seconds = 60
"""


@pytest.fixture(scope="module")
def clocked(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = configured_server(tmp_path_factory.mktemp("clock"), TEST_CONFIG + SETTINGS)
    yield server
    server.stop()


@pytest.fixture
def admin_of(clocked, contract) -> Any:
    """The clocked server's admin; every clock is back at real time after each test."""
    with Api(clocked.url, contract, ADMIN_KEY) as admin:
        yield admin
        assert admin.delete("/_ojin/clock").status_code == 200
        for namespace in admin.get("/_ojin/namespaces").json()["data"]:
            admin.delete(f"/_ojin/namespaces/{namespace['namespace_id']}")


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def seconds_ahead(stamp: str) -> float:
    return (parse(stamp) - datetime.now(UTC)).total_seconds()


def namespace(admin: Api, clocked, contract) -> tuple[dict, Api, Api]:
    created = admin.post("/_ojin/namespaces").json()
    return (
        created,
        Api(clocked.url, contract, created["api_key"]),
        Api(clocked.url, contract, created["other_api_key"]),
    )


def test_the_server_clock_moves_forward_and_back_to_real_time(admin_of, clocked, contract) -> None:
    with Api(clocked.url, contract, ALICE_KEY) as alice:
        start = admin_of.get("/_ojin/clock").json()
        assert start["offset_seconds"] == 0 and abs(seconds_ahead(start["now"])) < 5

        moved = admin_of.post("/_ojin/clock", json={"advance_seconds": 3600}).json()
        assert moved["offset_seconds"] == 3600
        assert 3595 < seconds_ahead(moved["now"]) < 3605
        assert admin_of.post("/_ojin/clock", json={"advance_seconds": 0.5}).status_code == 200
        assert admin_of.get("/_ojin/clock").json()["offset_seconds"] == 3600.5
        config = alice.create_config()
        assert 3595 < seconds_ahead(config["created_at"]) < 3605

        for wrong in ({"advance_seconds": -1}, {"advance_seconds": "1"}, {}, {"seconds": 1}):
            refused = admin_of.post("/_ojin/clock", json=wrong)
            assert refused.status_code == 400, wrong
            assert refused.json()["code"] == "VALIDATION_ERROR"
        assert admin_of.get("/_ojin/clock").json()["offset_seconds"] == 3600.5  # unchanged

        back = admin_of.delete("/_ojin/clock").json()
        assert back["offset_seconds"] == 0 and abs(seconds_ahead(back["now"])) < 5
        assert abs(seconds_ahead(alice.create_config()["created_at"])) < 5


def test_a_namespace_clock_moves_only_its_namespace(admin_of, clocked, contract) -> None:
    moved_ns, moved, moved_other = namespace(admin_of, clocked, contract)
    _, still, _ = namespace(admin_of, clocked, contract)
    path = f"/_ojin/namespaces/{moved_ns['namespace_id']}/clock"
    assert admin_of.post(path, json={"advance_seconds": 86_400}).json()["offset_seconds"] == 86_400
    assert admin_of.post("/_ojin/clock", json={"advance_seconds": 60}).status_code == 200
    reading = admin_of.get(path).json()
    assert reading["offset_seconds"] == 86_460  # its own advance, on top of the server's
    for client in (moved, moved_other):
        assert 86_450 < seconds_ahead(client.create_config()["created_at"]) < 86_470
    assert 50 < seconds_ahead(still.create_config()["created_at"]) < 70

    back = admin_of.delete(path).json()
    assert back["offset_seconds"] == 60  # back to the server's clock
    assert 50 < seconds_ahead(moved.create_config()["created_at"]) < 70


def test_a_presigned_url_expires_when_its_clock_passes_it(admin_of, clocked, contract) -> None:
    created, member, _ = namespace(admin_of, clocked, contract)
    _, bystander, _ = namespace(admin_of, clocked, contract)
    mine, theirs = member.start_upload(), bystander.start_upload()
    urls = [signed_url(member, mine), signed_url(bystander, theirs)]
    asset = member.upload(b"downloadable", "kept.png")
    download = member.get(f"/v1/assets/{asset['asset_id']}/download").json()["asset_url"]
    path = f"/_ojin/namespaces/{created['namespace_id']}/clock"
    with httpx.Client(timeout=30) as http:
        assert admin_of.post(path, json={"advance_seconds": 899}).status_code == 200
        assert http.put(urls[0], content=b"in time").status_code == 200
        assert http.get(download).status_code == 200

        assert admin_of.post(path, json={"advance_seconds": 2}).status_code == 200  # 901 s
        for refused in (http.put(urls[0], content=b"too late"), http.get(download)):
            assert refused.status_code == 403
            assert "<Code>AccessDenied</Code><Message>Request has expired" in refused.text
        assert http.put(urls[1], content=b"another clock").status_code == 200

        # The namespace a URL names is signed: it cannot be swapped for a slower clock.
        swapped = urls[0].replace(created["namespace_id"], "ns_" + "0" * 16)
        assert http.put(swapped, content=b"x").status_code == 403
        assert "SignatureDoesNotMatch" in http.put(swapped, content=b"x").text


def signed_url(client: Api, session: dict, part: int = 1) -> str:
    signed = client.post(
        "/v1/assets/sign-part",
        json={"asset_id": session["asset_id"], "upload_id": session["upload_id"], "part_number": 1},
    )
    assert signed.status_code == 200, signed.text
    return signed.json()["upload_url"]


def test_moving_past_the_ttl_collects_that_namespaces_sessions(admin_of, clocked, contract) -> None:
    created, member, _ = namespace(admin_of, clocked, contract)
    _, bystander, _ = namespace(admin_of, clocked, contract)
    stale, kept = member.start_upload(), bystander.start_upload()
    parts = member.put_parts(stale, [b"abandoned"])
    bystander.put_parts(kept, [b"still open"])
    uploads = Path(clocked.data_dir) / "storage" / "uploads"
    assert (uploads / stale["upload_id"]).exists()

    path = f"/_ojin/namespaces/{created['namespace_id']}/clock"
    assert admin_of.post(path, json={"advance_seconds": 3601}).status_code == 200

    assert not (uploads / stale["upload_id"]).exists()  # its parts are gone already
    assert member.finalize(stale, parts, 9).status_code == 404
    assert (uploads / kept["upload_id"]).exists()
    assert signed_url(bystander, kept)


def test_a_delayed_job_runs_as_soon_as_its_clock_passes_its_time(
    admin_of, clocked, contract
) -> None:
    created, member, _ = namespace(admin_of, clocked, contract)
    _, bystander, _ = namespace(admin_of, clocked, contract)
    source = member.get("/v1/assets", params={"source": "template", "category": "image"})
    image = source.json()["data"][0]["asset_id"]
    delayed, waiting = generate(member, image), generate(bystander, image)
    path = f"/_ojin/namespaces/{created['namespace_id']}/clock"
    assert admin_of.post(path, json={"advance_seconds": 30}).status_code == 200
    assert member.get(f"/v1/jobs/{delayed}").json()["status"] == "queued"  # 30 s to go

    assert admin_of.post(path, json={"advance_seconds": 31}).status_code == 200
    job = wait_for_job(member, delayed, timeout=20)
    assert job["status"] == "succeeded"
    assert seconds_ahead(job["finished_at"]) > 55  # by its own clock
    assert bystander.get(f"/v1/jobs/{waiting}").json()["status"] == "queued"


def test_the_clock_survives_a_restart(make_server, api) -> None:
    server = make_server()
    admin = api(server, "ojin-local-dev-key")
    created = admin.post("/_ojin/namespaces").json()
    path = f"/_ojin/namespaces/{created['namespace_id']}/clock"
    admin.post("/_ojin/clock", json={"advance_seconds": 100})
    admin.post(path, json={"advance_seconds": 20})
    admin = api(server.restart(), "ojin-local-dev-key")  # on a new port
    assert admin.get("/_ojin/clock").json()["offset_seconds"] == 100
    assert admin.get(path).json()["offset_seconds"] == 120
    assert admin.post("/_ojin/reset").status_code == 204  # a reset ends all time travel
    assert admin.get(path).json()["offset_seconds"] == 0
