"""The S3 backend: asset bytes in a bucket on AWS or on any S3-compatible endpoint (moto, MinIO).

boto3 is imported here only, and `open_storage` imports this module only when the S3 backend is
configured: boto3 costs ~0.3 s of start-up. Completion rules are checked here before S3 is asked,
because S3-compatible peers skip some of them (moto does) and both backends must answer alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, BinaryIO

from boto3.session import Session
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from ojin_local.config import S3Config
from ojin_local.errors import S3Error
from ojin_local.storage import Part, Storage, StoredObject, multipart_etag
from ojin_local.storage.rules import (
    check_part_etag,
    check_part_order,
    check_part_sizes,
    invalid_part,
)
from ojin_local.storage.signing import content_disposition

CHUNK_BYTES = 1024 * 1024

# Browsers PUT parts straight to the bucket and must read each part's ETag to finalize.
CORS_RULE = {
    "AllowedOrigins": ["*"],
    "AllowedMethods": ["PUT", "GET", "HEAD"],
    "AllowedHeaders": ["*"],
    "ExposeHeaders": ["ETag"],
    "MaxAgeSeconds": 3600,
}

# Codes for error answers without a body (HEAD requests; moto's bare 500s).
_CODES_BY_STATUS = {
    301: "PermanentRedirect",
    403: "AccessDenied",
    404: "NotFound",
    503: "ServiceUnavailable",
}


class S3Storage(Storage):
    """Objects under `prefix` in one bucket; clients PUT parts and GET them via pre-signed URLs."""

    backend = "s3"

    def __init__(self, config: S3Config) -> None:
        self.bucket = config.bucket
        prefix = config.prefix.strip("/")
        self._root = f"{prefix}/" if prefix else ""
        session = Session(
            aws_access_key_id=config.access_key_id or None,
            aws_secret_access_key=config.secret_access_key or None,
            region_name=config.region or None,
        )
        self._s3 = _client(session, config.endpoint_url)
        # Signs only, never connects: URLs name the host clients can reach.
        self._signer = _client(session, config.public_endpoint_url or config.endpoint_url)
        self._probe = _client(session, config.endpoint_url, timeout=2, attempts=1)
        if config.create_bucket:
            self._ensure_bucket(config.region)

    def create_multipart_upload(self, key: str, content_type: str) -> str:
        key = self._key(key)
        return self._call("create_multipart_upload", Key=key, ContentType=content_type)["UploadId"]

    def presign_upload_part(
        self, key: str, upload_id: str, part_number: int, expires_in: int
    ) -> str:
        params = {"Key": self._key(key), "UploadId": upload_id, "PartNumber": part_number}
        return self._presign("upload_part", expires_in, **params)

    def list_parts(self, key: str, upload_id: str) -> list[Part]:
        pages = self._s3.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=self._key(key), UploadId=upload_id
        )
        with _s3_errors():
            listed = [part for page in pages for part in page.get("Parts", [])]
        return [Part(part["PartNumber"], part["ETag"], part["Size"]) for part in listed]

    def complete_multipart_upload(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> StoredObject:
        chosen = _chosen_parts(parts, {p.part_number: p for p in self.list_parts(key, upload_id)})
        listed = {"Parts": [{"PartNumber": p.part_number, "ETag": p.etag} for p in chosen]}
        upload = {"Key": self._key(key), "UploadId": upload_id}
        try:
            done = self._call("complete_multipart_upload", **upload, MultipartUpload=listed)
        except S3Error as exc:
            if exc.status == 500:  # moto's answer when the upload vanished since it was listed
                self.list_parts(key, upload_id)  # S3's answer instead: NoSuchUpload, if so
            raise
        _verify_etag(done["ETag"], chosen)
        return self._stored(key)

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        try:
            self._call("abort_multipart_upload", Key=self._key(key), UploadId=upload_id)
        except S3Error as exc:
            if exc.code != "NoSuchUpload":
                raise

    def head_object(self, key: str) -> StoredObject | None:
        try:
            head = self._call("head_object", Key=self._key(key))
        except S3Error as exc:
            if exc.status == 404:
                return None
            raise
        return StoredObject(
            key=key,
            size=head["ContentLength"],
            etag=head["ETag"],
            content_type=head.get("ContentType", "application/octet-stream"),
            last_modified=head["LastModified"].astimezone(UTC),
        )

    def presign_get_object(
        self, key: str, filename: str, content_type: str, expires_in: int
    ) -> str:
        return self._presign(
            "get_object",
            expires_in,
            Key=self._key(key),
            ResponseContentDisposition=content_disposition(filename),
            ResponseContentType=content_type,
        )

    def put_object(
        self, key: str, body: BinaryIO, content_type: str, etag: str | None = None
    ) -> StoredObject:
        self._call("put_object", Key=self._key(key), Body=body, ContentType=content_type)
        return self._stored(key)

    def read_object(self, key: str) -> Iterator[bytes]:
        """Asks S3 now, so a missing object raises here rather than at the first chunk."""
        return _chunks(self._call("get_object", Key=self._key(key))["Body"])

    def delete_object(self, key: str) -> None:
        self._call("delete_object", Key=self._key(key))

    def list_uploads(self) -> list[tuple[str, str, datetime]]:
        pages = self._s3.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self._root
        )
        with _s3_errors():
            uploads = [up for page in pages for up in page.get("Uploads", [])]
        return [
            (up["UploadId"], up["Key"].removeprefix(self._root), up["Initiated"].astimezone(UTC))
            for up in uploads
        ]

    def discard(self, objects: Sequence[str], uploads: Sequence[tuple[str, str]] = ()) -> None:
        for key, upload_id in uploads:
            self.abort_multipart_upload(key, upload_id)
        stored = [self._key(key) for key in objects]
        for start in range(0, len(stored), 1000):  # DeleteObjects takes at most 1,000 keys
            batch = [{"Key": key} for key in stored[start : start + 1000]]
            self._call("delete_objects", Delete={"Objects": batch, "Quiet": True})

    def list_objects(self) -> Iterator[tuple[str, datetime]]:
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._root
        )
        with _s3_errors():
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"].removeprefix(self._root)
                    yield key, item["LastModified"].astimezone(UTC)

    def remove_debris(self, older_than: datetime) -> int:
        """S3 writes are atomic: an interrupted write leaves nothing behind."""
        return 0

    def health(self) -> dict[str, Any]:
        """A HeadBucket with a 2 s budget: proves the endpoint, the credentials and the bucket."""
        endpoint = self._s3.meta.endpoint_url
        report = {"backend": self.backend, "bucket": self.bucket, "endpoint": endpoint}
        try:
            with _s3_errors():
                self._probe.head_bucket(Bucket=self.bucket)
        except S3Error as exc:
            return {"status": "error", **report, "detail": f"{exc.code}: {exc.message}"}
        return {"status": "ok", **report}

    def _key(self, key: str) -> str:
        return self._root + key

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        with _s3_errors():
            return getattr(self._s3, operation)(Bucket=self.bucket, **params)

    def _presign(self, operation: str, expires_in: int, **params: Any) -> str:
        return self._signer.generate_presigned_url(
            operation, Params={"Bucket": self.bucket, **params}, ExpiresIn=expires_in
        )

    def _stored(self, key: str) -> StoredObject:
        """The facts of an object just written (a concurrent delete is the only way to miss)."""
        stored = self.head_object(key)
        if stored is None:
            raise S3Error("NoSuchKey", "The specified key does not exist.", 404, Key=key)
        return stored

    def _ensure_bucket(self, region: str) -> None:
        try:
            self._call("head_bucket")
        except S3Error as exc:
            if exc.status != 404:
                raise
            params = {}
            if region not in ("", "us-east-1"):  # the one region S3 refuses as a constraint
                params["CreateBucketConfiguration"] = {"LocationConstraint": region}
            try:
                self._call("create_bucket", **params)
            except S3Error as race:
                if race.code != "BucketAlreadyOwnedByYou":
                    raise
        self._call("put_bucket_cors", CORSConfiguration={"CORSRules": [CORS_RULE]})


def _client(session: Session, endpoint_url: str, timeout: float = 60, attempts: int = 3) -> Any:
    """Path-style SigV4 (works with any host name); checksums only where S3 requires them, since
    S3-compatible peers reject the CRC32 headers botocore adds by default."""
    config = BotoConfig(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        connect_timeout=min(timeout, 5),
        read_timeout=timeout,
        retries={"max_attempts": attempts, "mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return session.client("s3", endpoint_url=endpoint_url or None, config=config)


@contextmanager
def _s3_errors() -> Iterator[None]:
    """botocore's exceptions as S3Error: S3's own code and status; 503 when S3 is unreachable."""
    try:
        yield
    except ClientError as exc:
        raise _translated(exc) from exc
    except (BotoConnectionError, HTTPClientError) as exc:  # refused, timed out, cut off
        raise S3Error("ServiceUnavailable", f"S3 cannot be reached: {exc}", 503) from exc


def _translated(exc: ClientError) -> S3Error:
    error = dict(exc.response.get("Error", {}))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
    code, message = error.pop("Code", ""), error.pop("Message", "")
    if not code or code.isdigit():
        code = _CODES_BY_STATUS.get(status, "InternalError")
        message = f"{exc.operation_name} answered HTTP {status}"
    return S3Error(code, message, status, **{name: str(value) for name, value in error.items()})


def _chunks(body: Any) -> Iterator[bytes]:
    with body, _s3_errors():
        yield from body.iter_chunks(CHUNK_BYTES)


def _chosen_parts(parts: Sequence[tuple[int, str]], uploaded: dict[int, Part]) -> list[Part]:
    """The listed parts as uploaded, checked against S3's rules before S3 sees them, so both
    backends refuse a completion with the same code and details."""
    check_part_order(parts)
    chosen = []
    for number, etag in parts:
        part = uploaded.get(number)
        if part is None:
            raise invalid_part(number, etag)
        check_part_etag(part, etag)
        chosen.append(part)
    check_part_sizes(chosen)
    return chosen


def _verify_etag(etag: str, parts: list[Part]) -> None:
    """S3's ETag must be the one the filesystem backend computes for the same parts (it is not,
    e.g., where SSE-KMS makes part ETags that are not MD5s)."""
    expected = multipart_etag([bytes.fromhex(part.etag.strip('"')) for part in parts])
    if etag != expected:
        raise S3Error("InternalError", f"S3 made ETag {etag}, expected {expected}", 500)
