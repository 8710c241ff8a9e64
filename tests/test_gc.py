"""`ojin-local gc`: upload sessions past their TTL are aborted and their parts freed."""

from __future__ import annotations

import os

import httpx

from tests.conftest import run_cli
from tests.storage_helpers import MIB, multipart_etag


def test_gc_aborts_expired_sessions_and_keeps_fresh_ones(make_server, api) -> None:
    server = make_server()
    client = api(server, "ojin-local-dev-key")
    stale = client.start_upload()
    parts = client.put_parts(stale, [b"abandoned"])

    kept = run_cli("gc", "--data-dir", str(server.data_dir))
    assert kept.returncode == 0, kept.stderr
    assert "aborted 0 expired upload session(s)" in kept.stdout

    collected = run_cli("gc", "--ttl-seconds", "0", "--data-dir", str(server.data_dir))
    assert collected.returncode == 0, collected.stderr
    assert "aborted 1 expired upload session(s)" in collected.stdout
    assert client.finalize(stale, parts, 9).status_code == 404
    signed = client.post(
        "/v1/assets/sign-part",
        json={"asset_id": stale["asset_id"], "upload_id": stale["upload_id"], "part_number": 1},
    )
    assert signed.status_code == 404
    uploads = server.data_dir / "storage" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())

    fresh = client.start_upload()
    data = client.put_parts(fresh, [b"keep me"])
    run_cli("gc", "--data-dir", str(server.data_dir))
    assert client.finalize(fresh, data, 7).status_code == 201


def test_gc_frees_parts_no_object_owns(make_server, api) -> None:
    """A completion links the upload's parts into a new blob, then publishes the manifest naming
    it; a crash in between leaves a blob nobody names, which gc removes (and nothing else)."""
    server = make_server()
    client = api(server, "ojin-local-dev-key")
    parts = [os.urandom(5 * MIB), b"tail"]
    asset = client.upload(parts, "weights.bin", "weight")
    blobs = server.data_dir / "storage" / "blobs"
    [owned] = list(blobs.iterdir())
    orphan = blobs / ("0" * 32)
    orphan.mkdir()
    for part in owned.iterdir():
        os.link(part, orphan / part.name)

    collected = run_cli("gc", "--grace-seconds", "0", "--data-dir", str(server.data_dir))
    assert collected.returncode == 0, collected.stderr
    assert "removed 0 orphaned object(s) and 1 temp file(s) or unowned part set(s)" in (
        collected.stdout
    )
    assert list(blobs.iterdir()) == [owned]
    url = client.get(f"/v1/assets/{asset['asset_id']}/download").json()["asset_url"]
    download = httpx.get(url)
    assert download.content == b"".join(parts)
    assert download.headers["etag"] == multipart_etag(*parts)
