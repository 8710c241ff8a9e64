"""The S3 backend against an in-process moto server, through pre-signed URLs as clients use them.

moto skips S3's completion rules, so the storage contract (run here as for the filesystem
backend) proves that `S3Storage` enforces them itself.
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from ojin_local.config import S3Config
from ojin_local.errors import S3Error
from ojin_local.storage import MIN_PART_BYTES
from ojin_local.storage.s3 import S3Storage, _translated
from ojin_local.storage.signing import content_disposition
from tests.moto_server import MotoServer
from tests.storage_contract import StorageContract
from tests.storage_helpers import multipart_etag

PREFIX = "tenant-a"
CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}


def make_config(moto: MotoServer, **overrides) -> S3Config:
    values = {
        "bucket": f"ojin-test-{uuid.uuid4().hex[:12]}",
        "prefix": PREFIX,
        "endpoint_url": moto.url,
        "create_bucket": True,
        **CREDENTIALS,
        **overrides,
    }
    return S3Config(**values)


@pytest.fixture(scope="module")
def storage(moto):
    return S3Storage(make_config(moto))


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def raw(moto):
    """A plain boto3 client, to look at the bucket behind the backend's back."""
    return boto3.client(
        "s3",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=BotoConfig(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def put_part(storage: S3Storage, key: str, upload_id: str, number: int, data: bytes) -> str:
    url = storage.presign_upload_part(key, upload_id, number, expires_in=300)
    response = httpx.put(url, content=data)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


def start_upload(storage: S3Storage, *parts: bytes) -> tuple[str, str, list[str]]:
    key = f"assets/{uuid.uuid4().hex}"
    upload_id = storage.create_multipart_upload(key, "video/mp4")
    etags = [put_part(storage, key, upload_id, n, data) for n, data in enumerate(parts, 1)]
    return key, upload_id, etags


def s3_error(excinfo: pytest.ExceptionInfo[S3Error]) -> tuple[str, int]:
    return excinfo.value.code, excinfo.value.status


class TestS3Contract(StorageContract):
    """The storage contract, with moto at the URLs' other end."""


# --- the multipart flow -------------------------------------------------------------------------


def test_multipart_upload_through_presigned_urls(storage, raw):
    parts = [os.urandom(MIN_PART_BYTES), os.urandom(MIN_PART_BYTES), os.urandom(1000)]
    key, upload_id, etags = start_upload(storage, *parts)
    assert etags == [f'"{hashlib.md5(p).hexdigest()}"' for p in parts]
    listed = storage.list_parts(key, upload_id)
    assert [(p.part_number, p.etag, p.size) for p in listed] == [
        (n, etag, len(data)) for n, (etag, data) in enumerate(zip(etags, parts, strict=True), 1)
    ]

    # Quotes around part ETags are optional, as on S3.
    unquoted = [(n, etag.strip('"')) for n, etag in enumerate(etags, 1)]
    stored = storage.complete_multipart_upload(key, upload_id, unquoted)

    body = b"".join(parts)
    assert stored.etag == multipart_etag(*parts)
    assert (stored.key, stored.size, stored.content_type) == (key, len(body), "video/mp4")
    assert stored.last_modified.tzinfo is not None
    assert storage.head_object(key) == stored
    assert raw.head_object(Bucket=storage.bucket, Key=f"{PREFIX}/{key}")["ETag"] == stored.etag
    assert upload_id not in {upload for upload, _, _ in storage.list_uploads()}

    url = storage.presign_get_object(key, "clip.mp4", "video/mp4", expires_in=300)
    download = httpx.get(url)
    assert download.status_code == 200
    assert download.content == body
    assert download.headers["content-type"] == "video/mp4"
    assert download.headers["content-disposition"] == content_disposition("clip.mp4")

    start = MIN_PART_BYTES - 2
    ranged = httpx.get(url, headers={"Range": f"bytes={start}-{start + 3}"})
    assert ranged.status_code == 206
    assert ranged.content == body[start : start + 4]


def test_upload_gone_between_listing_and_completing(storage, monkeypatch):
    """moto answers a bare 500 there; S3 answers NoSuchUpload, and so does the backend."""
    key, upload_id, etags = start_upload(storage, b"part")
    list_parts = storage.list_parts

    def list_then_abort(key: str, upload_id: str):
        parts = list_parts(key, upload_id)
        monkeypatch.setattr(storage, "list_parts", list_parts)
        storage.abort_multipart_upload(key, upload_id)
        return parts

    monkeypatch.setattr(storage, "list_parts", list_then_abort)
    with pytest.raises(S3Error) as excinfo:
        storage.complete_multipart_upload(key, upload_id, [(1, etags[0])])
    assert s3_error(excinfo) == ("NoSuchUpload", 404)


# --- downloads as a file name -------------------------------------------------------------------

HOSTILE_NAMES = [
    "report.pdf",
    "naïve café.mp4",
    "弁当 🍱.png",
    'evil"; filename="x.exe',
    "line\r\nX-Injected: 1.txt",
    "back\\slash.txt",
    "\u202egnp.exe",
    "",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_content_disposition_is_safe(name):
    header = content_disposition(name)
    assert header.isascii()
    assert not any(c in header for c in "\r\n\x00")
    head, fallback, rest = header.split('"')  # exactly one quoted string: nothing escaped it
    assert head == "attachment; filename="
    assert rest.startswith("; filename*=UTF-8''")
    assert "\\" not in fallback
    decoded = unquote(rest.removeprefix("; filename*=UTF-8''"), errors="strict")
    assert decoded == ("".join(c for c in name if c.isprintable()).strip() or "download")


def test_content_disposition_fallback_keeps_what_ascii_can_say():
    assert content_disposition("naïve café.mp4").split('"')[1] == "naive cafe.mp4"
    assert content_disposition("弁当.png").split('"')[1] == "__.png"


@pytest.mark.parametrize("name", HOSTILE_NAMES[1:5])
def test_presigned_get_sends_the_disposition(storage, name):
    storage.put_object("named", io.BytesIO(b"hello"), "application/octet-stream")
    url = storage.presign_get_object("named", name, "text/plain; charset=utf-8", expires_in=60)
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == content_disposition(name)
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-1"])
def test_create_bucket_with_cors_for_browsers(moto, raw, region):
    config = make_config(moto, region=region)
    S3Storage(config)
    S3Storage(config)  # an existing bucket is fine
    location = raw.get_bucket_location(Bucket=config.bucket)["LocationConstraint"]
    assert location == (None if region == "us-east-1" else region)
    [rule] = raw.get_bucket_cors(Bucket=config.bucket)["CORSRules"]
    assert rule["ExposeHeaders"] == ["ETag"]
    assert set(rule["AllowedMethods"]) == {"PUT", "GET", "HEAD"}

    preflight = httpx.options(
        f"{moto.url}/{config.bucket}/{PREFIX}/assets/x?partNumber=1&uploadId=u",
        headers={
            "Origin": "http://app.example",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://app.example"
    assert preflight.headers["access-control-expose-headers"] == "ETag"
    assert "PUT" in preflight.headers["access-control-allow-methods"]


def test_without_create_bucket_nothing_is_created(moto, raw):
    config = make_config(moto, create_bucket=False)
    storage = S3Storage(config)
    with pytest.raises(ClientError):
        raw.head_bucket(Bucket=config.bucket)
    report = storage.health()
    assert report["status"] == "error"
    assert report["detail"].startswith("NotFound")


def test_presigned_urls_name_the_public_endpoint(moto, storage):
    public = f"http://localhost:{moto.port}"
    signer = S3Storage(make_config(moto, bucket=storage.bucket, public_endpoint_url=public))
    key, upload_id, _ = start_upload(storage, b"x")
    url = signer.presign_upload_part(key, upload_id, 2, expires_in=60)
    assert urlsplit(url).netloc == f"localhost:{moto.port}"
    assert httpx.put(url, content=b"second").status_code == 200
    assert [p.part_number for p in storage.list_parts(key, upload_id)] == [1, 2]

    storage.put_object("public", io.BytesIO(b"data"), "text/plain")
    download = signer.presign_get_object("public", "p.txt", "text/plain", expires_in=60)
    assert download.startswith(f"{public}/{storage.bucket}/{PREFIX}/public?")
    assert httpx.get(download).content == b"data"
    assert signer.health()["endpoint"] == moto.url  # the server itself talks to endpoint_url


def test_health(storage, moto):
    assert storage.health() == {
        "status": "ok",
        "backend": "s3",
        "bucket": storage.bucket,
        "endpoint": moto.url,
    }


def test_unreachable_s3_is_service_unavailable():
    config = S3Config(bucket="ojin-nowhere", endpoint_url="http://127.0.0.1:9", **CREDENTIALS)
    storage = S3Storage(config)
    assert storage.health()["status"] == "error"
    with pytest.raises(S3Error) as excinfo:
        storage.head_object("anything")
    assert s3_error(excinfo) == ("ServiceUnavailable", 503)


@pytest.mark.parametrize(
    ("error", "status", "expected"),
    [
        ({"Code": "AccessDenied", "Message": "Access Denied"}, 403, ("AccessDenied", 403)),
        ({"Code": "403", "Message": "Forbidden"}, 403, ("AccessDenied", 403)),
        ({"Code": "500", "Message": "Internal Server Error"}, 500, ("InternalError", 500)),
        ({}, 503, ("ServiceUnavailable", 503)),
    ],
)
def test_client_errors_keep_s3_codes(error, status, expected):
    """HEAD answers and moto's bare 500s carry no code of their own: the status names one."""
    exc = ClientError(
        {"Error": error, "ResponseMetadata": {"HTTPStatusCode": status}}, "HeadObject"
    )
    translated = _translated(exc)
    assert (translated.code, translated.status) == expected
