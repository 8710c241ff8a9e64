"""`ojin-local gc`: upload sessions past their TTL are aborted and their parts freed."""

from __future__ import annotations

from tests.conftest import run_cli


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
