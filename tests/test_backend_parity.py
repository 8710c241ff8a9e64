"""The two storage backends are interchangeable: what one stores, the other stores alike."""

from __future__ import annotations

import os

import httpx

from tests.conftest import ALICE_KEY, Server
from tests.storage_helpers import MIB, multipart_etag


def test_both_backends_store_the_same_object(server: Server, s3_server: Server, api) -> None:
    """Parity: the same bytes in the same part layout give the same ETag, size and bytes."""
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB + 17), b"tail"]
    seen = []
    for running in (server, s3_server):
        client = api(running, ALICE_KEY)
        asset = client.upload(parts, "parity.bin", "weight")
        url = client.get(f"/v1/assets/{asset['asset_id']}/download").json()["asset_url"]
        body = httpx.get(url, timeout=60)
        seen.append((asset["etag"], asset["size_bytes"], body.headers["etag"], body.content))
    assert seen[0] == seen[1]
    assert seen[0][:3] == (multipart_etag(*parts), sum(map(len, parts)), multipart_etag(*parts))
    assert seen[0][3] == b"".join(parts)
