"""The filesystem backend's objects over real HTTP: objects written whole by earlier versions are
still served, a multi-part object deleted while it downloads ends early (never with another
object's bytes), and a large download leaves the server's memory as it was."""

from __future__ import annotations

import io
import json
import os
import struct
import uuid
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import pytest

from ojin_local.storage import MIN_PART_BYTES
from ojin_local.storage.filesystem import FilesystemStorage
from tests.conftest import Server
from tests.storage_helpers import MIB, multipart_etag, peak_rss, stored_object


def write_old_object(server: Server, key: str, data: bytes, etag: str) -> datetime:
    """An object as every version before manifests stored it: one file, a 4 KiB header (magic,
    big-endian length, JSON facts, zero padding), then the bytes. Returns its date."""
    modified = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    facts = {"etag": etag, "content_type": "video/mp4", "last_modified": modified.isoformat()}
    meta = json.dumps(facts).encode()
    header = (b"OJIN\x01" + struct.pack(">I", len(meta)) + meta).ljust(4096, b"\0")
    path = server.data_dir / "storage" / "objects" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + data)
    return modified


def test_an_object_written_whole_by_an_earlier_version_is_served(storage, server, http):
    key = f"assets/org_test/{uuid.uuid4()}"
    data = os.urandom(3 * MIB + 5)
    etag = multipart_etag(data[: 2 * MIB], data[2 * MIB :])  # kept as written, not recomputed
    modified = write_old_object(server, key, data, etag)
    url = storage.presign_get_object(key, "old.mp4", "video/mp4", 300)

    whole = http.get(url)
    assert (whole.status_code, whole.content, whole.headers["etag"]) == (200, data, etag)
    assert whole.headers["content-length"] == str(len(data))
    assert parsedate_to_datetime(whole.headers["last-modified"]) == modified
    ranged = http.get(url, headers={"Range": "bytes=-10"})
    assert (ranged.status_code, ranged.content) == (206, data[-10:])
    assert http.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert http.head(url).headers["content-length"] == str(len(data))
    assert b"".join(storage.read_object(key)) == data
    stored = storage.head_object(key)
    assert (stored.size, stored.etag, stored.last_modified) == (len(data), etag, modified)
    storage.delete_object(key)
    assert http.get(url).status_code == 404


def test_a_multipart_object_deleted_mid_download_ends_early(make_server):
    """The client gets a prefix of the object's bytes and an incomplete body, never the bytes
    of the object stored at the key since."""
    server = make_server()
    storage = FilesystemStorage(server.data_dir, server.url)
    parts = [os.urandom(MIN_PART_BYTES) for _ in range(8)]
    body = b"".join(parts)
    with httpx.Client(timeout=60) as http:
        key = stored_object(storage, http, *parts)
        url = storage.presign_get_object(key, "clip.mp4", "video/mp4", 300)
        received = bytearray()
        with http.stream("GET", url) as response, pytest.raises(httpx.RemoteProtocolError):
            chunks = response.iter_raw(64 * 1024)
            received += next(chunks)
            storage.delete_object(key)
            storage.put_object(key, io.BytesIO(os.urandom(len(body))), "video/mp4")
            for chunk in chunks:
                received += chunk
    assert 0 < len(received) < len(body)
    assert bytes(received) == body[: len(received)]


def test_a_large_download_keeps_the_servers_memory_bounded(make_server):
    server = make_server()
    storage = FilesystemStorage(server.data_dir, server.url)
    part = os.urandom(8 * MIB)
    with httpx.Client(timeout=60) as http:
        key = stored_object(storage, http, *[part] * 12)  # 96 MiB in 12 parts
        url = storage.presign_get_object(key, "big.bin", "application/octet-stream", 300)
        assert http.get(url, headers={"Range": "bytes=0-1023"}).status_code == 206  # warm up
        before = peak_rss(server.process.pid)
        size = 0
        with http.stream("GET", url) as response:
            for chunk in response.iter_raw(MIB):
                assert chunk == part[size % len(part) : size % len(part) + len(chunk)]
                size += len(chunk)
    assert size == 12 * len(part)
    growth = peak_rss(server.process.pid) - before
    assert growth < 16 * MIB, f"the server's peak RSS grew {growth / MIB:.1f} MiB for 96 MiB"
