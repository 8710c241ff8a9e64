"""The filesystem backend's storage routes over real HTTP, checked against S3's behaviour.

The test process drives the backend on the server's own data dir (files plus the shared signing
key): it starts uploads and signs URLs as the API would, then PUTs and GETs them over HTTP.
"""

from __future__ import annotations

import io
import os
import stat
import uuid
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from ojin_local.errors import S3Error
from ojin_local.storage import MAX_PART_BYTES, MIN_PART_BYTES
from ojin_local.storage.filesystem import FilesystemStorage
from ojin_local.storage.signing import content_disposition
from tests.conftest import wait_until
from tests.storage_contract import BIG, StorageContract
from tests.storage_helpers import (
    MIB,
    md5_etag,
    multipart_etag,
    new_upload,
    peak_rss,
    put,
    raw_put,
    s3_error,
    stored_object,
    upload_parts,
)

# Part uploads


class TestFilesystemContract(StorageContract):
    """The storage contract, with this server's storage routes as the URLs' other end."""


def test_a_part_put_answers_s3s_headers(storage, http):
    key, upload = new_upload(storage)
    response = put(http, storage, key, upload, 1, b"hello part")
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == md5_etag(b"hello part")
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "*"
    assert "ETag" in response.headers["access-control-expose-headers"]
    assert response.headers["x-request-id"]


@pytest.mark.parametrize("number", ["0", "10001", "-1", "one"])
def test_part_numbers_outside_1_to_10000_are_invalid_argument(storage, http, number):
    key, upload = new_upload(storage)
    params = {"uploadId": upload, "partNumber": number}
    url = storage.object_server.sign("PUT", key, params, 300)  # signed, but invalid
    response = http.put(url, content=b"x")
    assert response.status_code == 400
    error = s3_error(response)
    assert (error["Code"], error["ArgumentName"]) == ("InvalidArgument", "partNumber")
    if number.isdecimal():
        with pytest.raises(S3Error, match="between 1 and 10000"):
            storage.presign_upload_part(key, upload, int(number), 300)


def test_unknown_aborted_and_completed_uploads_are_no_such_upload(storage, http):
    key, upload = new_upload(storage)
    ghost = storage.object_server.sign("PUT", key, {"uploadId": "x" * 32, "partNumber": "1"}, 300)
    aborted_key, aborted = new_upload(storage)
    storage.abort_multipart_upload(aborted_key, aborted)
    put(http, storage, key, upload, 1, b"done")
    storage.complete_multipart_upload(key, upload, [(1, md5_etag(b"done"))])
    for url in (
        ghost,
        storage.presign_upload_part(aborted_key, aborted, 1, 300),
        storage.presign_upload_part(key, upload, 2, 300),
    ):
        response = http.put(url, content=b"x")
        assert response.status_code == 404
        assert s3_error(response)["Code"] == "NoSuchUpload"


def test_a_chunked_body_is_hashed_and_stored_as_it_streams(storage, http):
    key, upload = new_upload(storage)
    pieces = [os.urandom(700_001) for _ in range(10)]  # uneven, across several 4 MiB batches
    url = storage.presign_upload_part(key, upload, 1, 300)
    response = http.put(url, content=iter(pieces))  # no Content-Length: chunked
    body = b"".join(pieces)
    assert response.headers["etag"] == md5_etag(body)
    [part] = storage.list_parts(key, upload)
    assert part.size == len(body)
    stored = storage.complete_multipart_upload(key, upload, [(1, part.etag)])
    assert b"".join(storage.read_object(key)) == body
    assert stored.etag == multipart_etag(body)


def test_a_declared_body_over_5_gib_is_refused_before_it_is_read(storage):
    key, upload = new_upload(storage)
    url = storage.presign_upload_part(key, upload, 1, 300)
    status, body = raw_put(url, {"Content-Length": str(MAX_PART_BYTES + 1)}, b"only a few bytes")
    assert status == 400
    assert b"<Code>EntityTooLarge</Code>" in body
    assert f"<MaxSizeAllowed>{MAX_PART_BYTES}</MaxSizeAllowed>".encode() in body
    assert storage.list_parts(key, upload) == []


# Completion


def test_a_completed_uploads_directory_goes(storage, http):
    key, upload, etags = upload_parts(storage, http, BIG, b"tail")
    storage.complete_multipart_upload(key, upload, list(enumerate(etags, 1)))
    uploads = storage.store.uploads / upload
    assert wait_until(lambda: not uploads.exists()), "the parts outlived the completion"
    assert b"".join(storage.read_object(key)) == BIG + b"tail"


# Downloads


@pytest.fixture(scope="module")
def three_parts(storage, http) -> tuple[str, bytes, tuple[bytes, ...]]:
    """An object of two 5 MiB parts and a small one: its key, bytes and parts."""
    parts = (BIG, os.urandom(MIN_PART_BYTES), os.urandom(12_345))
    return stored_object(storage, http, *parts), b"".join(parts), parts


def test_get_and_head_answer_s3s_headers(storage, http, three_parts):
    key, body, parts = three_parts
    url = storage.presign_get_object(key, "clip.mp4", "video/mp4", 300)
    for method in ("GET", "HEAD"):
        response = http.request(method, url)
        assert response.status_code == 200
        assert response.content == (body if method == "GET" else b"")
        headers = response.headers
        assert headers["content-length"] == str(len(body))
        assert headers["etag"] == multipart_etag(*parts)
        assert headers["content-type"] == "video/mp4"
        assert headers["accept-ranges"] == "bytes"
        assert headers["content-disposition"] == content_disposition("clip.mp4")
        modified = parsedate_to_datetime(headers["last-modified"])
        assert modified == storage.head_object(key).last_modified
        assert headers["access-control-allow-origin"] == "*"
        assert {"ETag", "Content-Length", "Content-Range", "X-Request-Id"} <= {
            name.strip() for name in headers["access-control-expose-headers"].split(",")
        }


def test_the_signed_content_type_overrides_the_stored_one(storage, http):
    key = stored_object(storage, http, b"{}", content_type="application/octet-stream")
    response = http.get(storage.presign_get_object(key, "a.json", "application/json", 300))
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", (0, 0)),
        ("bytes=-1", ("last", "last")),
        ("bytes={last}-", ("last", "last")),
        ("bytes=-{beyond}", (0, "last")),
        ("bytes=5-{beyond}", (5, "last")),
        ("bytes={last_of_first}-{first_of_second}", ("last_of_first", "first_of_second")),
        ("bytes=5-2", None),
        ("bytes=0-1,3-4", None),
        ("bytes=abc", None),
        ("items=0-1", None),
        ("bytes=-", None),
        ("bytes={size}-", 416),
        ("bytes={beyond}-{beyond}", 416),
        ("bytes=-0", 416),
    ],
)
def test_ranges_as_s3_answers_them(storage, http, three_parts, header, expected):
    key, body, _ = three_parts
    size = len(body)
    names = {
        "last": size - 1,
        "size": size,
        "beyond": size + 100,
        "last_of_first": MIN_PART_BYTES - 1,
        "first_of_second": MIN_PART_BYTES,
    }
    url = storage.presign_get_object(key, "clip.mp4", "video/mp4", 300)
    response = http.get(url, headers={"Range": header.format(**names)})
    if expected is None:
        assert response.status_code == 200
        assert "content-range" not in response.headers
        assert response.content == body
    elif expected == 416:
        assert response.status_code == 416
        assert response.headers["content-range"] == f"bytes */{size}"
        assert s3_error(response)["Code"] == "InvalidRange"
    else:
        start, end = (names.get(str(bound), bound) for bound in expected)
        assert response.status_code == 206
        assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert response.headers["content-length"] == str(end - start + 1)
        assert response.content == body[start : end + 1]


def test_a_head_with_a_range_answers_the_range_headers(storage, http, three_parts):
    key, body, _ = three_parts
    url = storage.presign_get_object(key, "clip.mp4", "video/mp4", 300)
    response = http.head(url, headers={"Range": "bytes=10-19"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 10-19/{len(body)}"
    assert response.headers["content-length"] == "10"


def test_an_empty_object_has_no_satisfiable_range(storage, http):
    key = f"assets/org_test/{uuid.uuid4()}"
    storage.put_object(key, io.BytesIO(b""), "text/plain")
    url = storage.presign_get_object(key, "empty.txt", "text/plain", 300)
    whole = http.get(url)
    assert (whole.status_code, whole.content, whole.headers["etag"]) == (200, b"", md5_etag(b""))
    assert http.get(url, headers={"Range": "bytes=0-"}).status_code == 416


def test_conditional_requests(storage, http, three_parts):
    key, _, _ = three_parts
    url = storage.presign_get_object(key, "clip.mp4", "video/mp4", 300)
    etag = http.head(url).headers["etag"]
    not_modified = http.get(url, headers={"If-None-Match": etag})
    assert (not_modified.status_code, not_modified.content) == (304, b"")
    assert not_modified.headers["etag"] == etag
    assert http.get(url, headers={"If-None-Match": f'"other", {etag}'}).status_code == 304
    assert http.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert http.head(url, headers={"If-Match": etag}).status_code == 200
    failed = http.get(url, headers={"If-Match": '"other"'})
    assert failed.status_code == 412
    assert s3_error(failed)["Code"] == "PreconditionFailed"


def test_a_missing_object_is_no_such_key(storage, http):
    key = stored_object(storage, http, b"short-lived")
    url = storage.presign_get_object(key, "gone.bin", "video/mp4", 300)
    storage.delete_object(key)
    storage.delete_object(key)  # idempotent, as S3
    response = http.get(url)
    assert (response.status_code, s3_error(response)["Code"]) == (404, "NoSuchKey")
    head = http.head(url)
    assert (head.status_code, head.content) == (404, b"")


def test_keys_must_be_safe_paths(storage):
    for key in ("../escape", "/absolute", "a//b", "a/./b", "a/../b", ".hidden", ""):
        with pytest.raises(S3Error) as refused:
            storage.create_multipart_upload(key, "video/mp4")
        assert refused.value.code == "InvalidArgument"


# CORS, files, health, memory


def test_cors_preflight(storage, http):
    key, upload = new_upload(storage)
    url = storage.presign_upload_part(key, upload, 1, 300)
    response = http.options(
        url,
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type, x-custom",
        },
    )
    assert response.status_code == 200
    headers = response.headers
    assert headers["access-control-allow-origin"] == "*"
    assert set(headers["access-control-allow-methods"].split(", ")) == {"PUT", "GET", "HEAD"}
    assert headers["access-control-allow-headers"] == "content-type, x-custom"
    assert int(headers["access-control-max-age"]) > 0
    assert "ETag" in headers["access-control-expose-headers"]


def test_the_signing_key_is_private_and_shared_by_every_instance(storage, server):
    key_file = server.data_dir / "storage" / "signing.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = FilesystemStorage(server.data_dir, server.url)
    url = again.presign_upload_part("assets/k", "z" * 32, 1, 300)
    assert storage.object_server.verify("PUT", "assets/k", parse_qsl(urlsplit(url).query))


def test_an_abort_names_the_uploads_key_unless_its_manifest_is_gone(storage):
    _, upload = new_upload(storage)
    storage.abort_multipart_upload("assets/another-key", upload)  # not this upload's key
    assert upload in {u for u, _, _ in storage.list_uploads()}
    broken = storage.store.uploads / ("b" * 32)
    broken.mkdir()  # as a crash between creating the directory and its manifest leaves it
    assert ("b" * 32, "") in {(u, k) for u, k, _ in storage.list_uploads()}
    storage.abort_multipart_upload("", "b" * 32)
    assert not broken.exists()


def test_health_reports_a_writable_data_dir(server, http):
    storage = http.get(f"{server.url}/_ojin/health").json()["storage"]
    assert storage["backend"] == "filesystem"
    assert storage["status"] == "ok"
    assert storage["free_bytes"] > 0


def test_a_streamed_put_keeps_the_servers_memory_bounded(make_server):
    server = make_server()
    storage = FilesystemStorage(server.data_dir, server.url)
    key, upload = new_upload(storage)
    with httpx.Client(timeout=60) as client:
        warm_up = client.put(storage.presign_upload_part(key, upload, 1, 300), content=BIG)
        assert warm_up.status_code == 200
        before = peak_rss(server.process.pid)
        body = os.urandom(50 * MIB)
        response = client.put(storage.presign_upload_part(key, upload, 2, 300), content=body)
    assert response.headers["etag"] == md5_etag(body)
    growth = peak_rss(server.process.pid) - before
    assert growth < 16 * MIB, f"the server's peak RSS grew {growth / MIB:.1f} MiB for 50 MiB"
