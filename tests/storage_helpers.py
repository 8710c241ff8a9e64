"""Helpers for the storage tests, for any backend: uploads and URLs, S3's XML errors, independent
ETags, raw HTTP, peak memory."""

from __future__ import annotations

import hashlib
import socket
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from ojin_local.storage import Storage

MIB = 1024 * 1024


def s3_error(response: httpx.Response) -> dict[str, str]:
    """The fields of S3's `<Error>` document; checks it is one."""
    assert response.headers["content-type"] == "application/xml", response.text
    root = ET.fromstring(response.content)
    assert root.tag == "Error"
    return {child.tag: child.text or "" for child in root}


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def multipart_etag(*parts: bytes) -> str:
    """S3's ETag for an object of `parts`, from their bytes (the oracle for both backends)."""
    digests = b"".join(hashlib.md5(part).digest() for part in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def new_upload(storage: Storage) -> tuple[str, str]:
    """A new upload of a fresh key: (key, upload id)."""
    key = f"assets/org_test/{uuid.uuid4()}"
    return key, storage.create_multipart_upload(key, "video/mp4")


def put(
    http: httpx.Client, storage: Storage, key: str, upload: str, number: int, data: bytes
) -> httpx.Response:
    return http.put(storage.presign_upload_part(key, upload, number, 300), content=data)


def stored_object(
    storage: Storage, http: httpx.Client, *parts: bytes, content_type: str = "video/mp4"
) -> str:
    """A multipart object made of `parts`; returns its key."""
    key = f"assets/org_test/{uuid.uuid4()}"
    upload = storage.create_multipart_upload(key, content_type)
    listed = [
        (n, put(http, storage, key, upload, n, data).headers["etag"])
        for n, data in enumerate(parts, 1)
    ]
    storage.complete_multipart_upload(key, upload, listed)
    return key


def with_query(url: str, **changes: str | None) -> str:
    """`url` with query parameters replaced (None removes one)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    kept = {name: value for name, value in query.items() if value is not None}
    return urlunsplit(parts._replace(query=urlencode(kept)))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def later_expiry(url: str) -> str:
    return with_query(url, **{"X-Ojin-Expires": str(int(query_of(url)["X-Ojin-Expires"]) + 3600)})


def flipped_signature(url: str) -> str:
    signature = query_of(url)["X-Ojin-Signature"]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    return with_query(url, **{"X-Ojin-Signature": flipped})


def upload_parts(
    storage: Storage, http: httpx.Client, *parts: bytes, first: int = 1
) -> tuple[str, str, list[str]]:
    """An upload with `parts` PUT over HTTP, numbered from `first`: its key, id and ETags."""
    key, upload = new_upload(storage)
    etags = [
        put(http, storage, key, upload, n, data).headers["etag"]
        for n, data in enumerate(parts, first)
    ]
    return key, upload, etags


def raw_put(url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """Send a request head and a few body bytes as they are (whatever Content-Length claims)
    and read one response: its status and body."""
    parts = urlsplit(url)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = f"PUT {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request.encode() + body)
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        header_block, _, rest = received.partition(b"\r\n\r\n")
        lines = header_block.decode().split("\r\n")
        fields = dict(line.split(": ", 1) for line in lines[1:])
        length = int(fields.get("content-length", "0"))
        while len(rest) < length:
            rest += sock.recv(65536)
    return int(lines[0].split()[1]), rest


def peak_rss(pid: int) -> int:
    """The process's RSS high-water mark (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")
