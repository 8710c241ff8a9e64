"""State snapshots: GET/PUT /_ojin/state, `ojin-local state export|import`, and
`serve --import / --export-on-exit`; refused archives change nothing."""

from __future__ import annotations

import io
import json
import os
import tarfile

import httpx
import pytest

from ojin_local.domain.portraits import portrait_png
from tests.conftest import GENERATE, run_cli, wait_until

pytestmark = pytest.mark.every_database(shared_in_test_all=True)

DEV_KEY = "ojin-local-dev-key"
MIB = 1024 * 1024


def everything(client) -> dict:
    """What a client can see of the state, minus URLs (signed per server)."""
    assets = client.get("/v1/assets", params={"limit": 100}).json()["data"]
    return {
        "configs": client.get("/v1/model-configs", params={"limit": 100}).json(),
        "assets": assets,
        "jobs": client.get("/v1/jobs").json(),
        "bytes": {
            a["asset_id"]: httpx.get(
                client.get(f"/v1/assets/{a['asset_id']}/download").json()["asset_url"]
            ).content
            for a in assets
        },
    }


def populate(client) -> None:
    client.create_config(title="Kept")
    client.upload([os.urandom(5 * MIB), b"tail"], "two-parts.bin", "weight")
    image = client.upload(portrait_png(0), "face.png")
    job = client.post(GENERATE, json={"source_asset_id": image["asset_id"]}).json()
    done = wait_until(
        lambda: client.get(f"/v1/jobs/{job['job_id']}").json()["status"] == "succeeded",
        timeout=30,
    )
    assert done


@pytest.fixture
def origin(make_server, api):
    server = make_server()
    client = api(server, DEV_KEY)
    populate(client)
    return client


def test_export_then_import_gives_the_same_records_and_bytes(origin, make_server, api) -> None:
    response = origin.get("/_ojin/state")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert names[:2] == ["manifest.json", "database.sqlite3"]
    assert manifest["format"] == "ojin-local-snapshot" and manifest["objects"] == 6  # 3 seeded

    target = api(make_server(), DEV_KEY)
    imported = target.put("/_ojin/state", content=response.content)
    assert imported.status_code == 200, imported.text
    assert imported.json()["imported"]["created_at"] == manifest["created_at"]
    assert everything(target) == everything(origin)
    etags = {a["asset_id"]: a["etag"] for a in everything(target)["assets"]}
    for asset_id, etag in etags.items():
        url = target.get(f"/v1/assets/{asset_id}/download").json()["asset_url"]
        assert httpx.head(url).headers["etag"] == etag  # multipart ETags survive


def foreign_archives(good: bytes) -> dict[str, bytes]:
    def archive(members: dict[str, bytes]) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return out.getvalue()

    with tarfile.open(fileobj=io.BytesIO(good), mode="r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    manifest = json.loads(members["manifest.json"])
    newer = {**members, "manifest.json": json.dumps({**manifest, "schema_version": 99}).encode()}
    no_objects = {k: v for k, v in members.items() if not k.startswith("objects/")}
    broken_db = {**members, "database.sqlite3": b"SQLite format 3\x00" + b"\x00" * 100}
    return {
        "random bytes": os.urandom(4096),
        "truncated": good[: len(good) // 2],
        "a tar of something else": archive({"README.md": b"hello"}),
        "a newer schema": archive(newer),
        "records without objects": archive(no_objects),
        "a broken database": archive(broken_db),
    }


def test_corrupt_or_foreign_archives_are_refused_and_change_nothing(origin) -> None:
    good = origin.get("/_ojin/state").content
    before = everything(origin)
    for what, body in foreign_archives(good).items():
        refused = origin.put("/_ojin/state", content=body)
        assert refused.status_code == 400, what
        assert refused.json()["message"].startswith("Not a usable ojin-local snapshot"), what
        assert everything(origin) == before, what


def test_cli_state_export_and_import(origin, make_server, tmp_path) -> None:
    snapshot = tmp_path / "state.tar.gz"
    env = {"OJIN_BASE_URL": f"{str(origin.base_url).rstrip('/')}/v1", "OJIN_API_KEY": DEV_KEY}
    exported = run_cli("state", "export", str(snapshot), env=env)
    assert exported.returncode == 0, exported.stderr
    target = make_server()
    env["OJIN_BASE_URL"] = f"{target.url}/v1"
    imported = run_cli("state", "import", str(snapshot), env=env)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["imported"]["format"] == "ojin-local-snapshot"
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not an archive")
    refused = run_cli("state", "import", str(garbage), env=env)
    assert refused.returncode == 1 and "400 VALIDATION_ERROR" in refused.stderr


def test_serve_export_on_exit_then_import(make_server, api, tmp_path) -> None:
    snapshot = tmp_path / "on-exit.tar.gz"
    first = make_server("--export-on-exit", str(snapshot))
    client = api(first, DEV_KEY)
    populate(client)
    before = everything(client)
    assert first.stop() == 0, first.log
    assert snapshot.exists(), first.log
    second = make_server("--import", str(snapshot))
    assert everything(api(second, DEV_KEY)) == before
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"nope")
    refused = run_cli("serve", "--import", str(bad), "--data-dir", str(tmp_path / "d"))
    assert refused.returncode == 1 and "cannot import" in refused.stderr


def test_a_queued_job_in_an_imported_snapshot_runs(make_server, api) -> None:
    origin = api(make_server("--no-jobs"), DEV_KEY)
    image = origin.upload(portrait_png(2), "later.png")
    job = origin.post(GENERATE, json={"source_asset_id": image["asset_id"]}).json()
    archive = origin.get("/_ojin/state").content
    target = api(make_server(), DEV_KEY)
    assert target.put("/_ojin/state", content=archive).status_code == 200
    succeeded = wait_until(
        lambda: target.get(f"/v1/jobs/{job['job_id']}").json()["status"] == "succeeded",
        timeout=30,
    )
    assert succeeded
