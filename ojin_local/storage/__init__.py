"""Where asset bytes live: one small interface, two backends (filesystem, S3) with S3's rules.

Both backends emulate S3 multipart uploads exactly: clients PUT parts to pre-signed URLs and get
S3's part ETags back; completion enforces S3's rules with S3's error codes (`S3Error`) and yields
S3's multipart ETag, so the same bytes and part layout give the same object and ETag on both.
Methods are synchronous (boto3 is); the API calls them from a thread pool.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from ojin_local.config import Config
    from ojin_local.storage.object_server import ObjectServer

MIN_PART_BYTES = 5 * 1024 * 1024  # every part but the last (S3: EntityTooSmall)
MAX_PART_BYTES = 5 * 1024**3  # S3: EntityTooLarge
MAX_PART_NUMBER = 10_000


@dataclass(frozen=True)
class Part:
    part_number: int
    etag: str  # quoted, as S3 sends it: '"<md5 hex>"'
    size: int


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    etag: str  # quoted; multipart objects end in '-<part count>'
    content_type: str
    last_modified: datetime


class Storage(ABC):
    """What the API needs from a place that keeps objects. Keys are chosen by the server."""

    backend: str
    # What answers this backend's pre-signed URLs, if this server does (filesystem); the
    # storage routes exist only then.
    object_server: ObjectServer | None = None

    @abstractmethod
    def create_multipart_upload(self, key: str, content_type: str) -> str:
        """Start a multipart upload; returns its upload id."""

    @abstractmethod
    def presign_upload_part(
        self, key: str, upload_id: str, part_number: int, expires_in: int
    ) -> str:
        """A URL a client can PUT one part's bytes to, without credentials, until it expires."""

    @abstractmethod
    def list_parts(self, key: str, upload_id: str) -> list[Part]:
        """The parts uploaded so far, by part number; S3Error NoSuchUpload if unknown."""

    @abstractmethod
    def complete_multipart_upload(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> StoredObject:
        """Assemble the listed (part number, ETag) pairs into the object, enforcing S3's rules:
        InvalidPartOrder, InvalidPart, EntityTooSmall, NoSuchUpload."""

    @abstractmethod
    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        """Drop an upload and its parts; unknown uploads are ignored."""

    @abstractmethod
    def head_object(self, key: str) -> StoredObject | None:
        """The object's facts, or None if there is no such object."""

    @abstractmethod
    def presign_get_object(
        self, key: str, filename: str, content_type: str, expires_in: int
    ) -> str:
        """A URL that downloads the object as `filename` (Content-Disposition) until it expires."""

    @abstractmethod
    def put_object(
        self, key: str, body: BinaryIO, content_type: str, etag: str | None = None
    ) -> StoredObject:
        """Store a whole object at once (seed images, generated videos, restored snapshots).
        `etag` keeps a restored object's multipart ETag where the backend can (filesystem);
        S3 always computes its own."""

    @abstractmethod
    def read_object(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks; S3Error NoSuchKey if there is no such object."""

    @abstractmethod
    def delete_object(self, key: str) -> None:
        """Remove the object; a missing object is not an error (S3 answers 204 as well)."""

    @abstractmethod
    def discard(self, objects: Sequence[str], uploads: Sequence[tuple[str, str]] = ()) -> None:
        """Remove objects and multipart uploads (key, upload id) whose records are already gone
        (a reset), in as few calls as the backend allows and without waiting for the disk: each
        is gone for every request at once, but should the machine crash right after, one may
        come back, an orphan that garbage collection removes. Missing ones are not an error."""

    @abstractmethod
    def list_uploads(self) -> list[tuple[str, str, datetime]]:
        """Every multipart upload still open: (upload id, key, initiated at, UTC-aware)."""

    def clear(self, key_prefix: str, keep: frozenset[str] = frozenset()) -> None:
        """Remove every object and open upload whose key starts with `key_prefix`, except the
        objects named in `keep` (POST /_ojin/reset keeps the seed's)."""
        uploads = [
            (key, upload) for upload, key, _ in self.list_uploads() if key.startswith(key_prefix)
        ]
        listed = [key for key, _ in self.list_objects()]
        self.discard([k for k in listed if k.startswith(key_prefix) and k not in keep], uploads)

    @abstractmethod
    def list_objects(self) -> Iterator[tuple[str, datetime]]:
        """Every object: (key, last modified, UTC-aware); for garbage collection."""

    @abstractmethod
    def remove_debris(self, older_than: datetime) -> int:
        """Remove what interrupted writes left behind (not objects, not uploads) and is older
        than `older_than`; returns how many were removed."""

    @abstractmethod
    def health(self) -> dict[str, Any]:
        """{"status": "ok" | "error", ...} for GET /_ojin/health."""


def multipart_etag(part_md5s: Sequence[bytes]) -> str:
    """S3's ETag for a multipart object: MD5 of the parts' binary MD5s, then '-<count>'."""
    digest = hashlib.md5(b"".join(part_md5s), usedforsecurity=False).hexdigest()
    return f'"{digest}-{len(part_md5s)}"'


def open_storage(config: Config) -> Storage:
    """The configured backend; boto3 is imported only when the S3 backend is chosen."""
    if config.storage.backend == "s3":
        from ojin_local.storage.s3 import S3Storage

        return S3Storage(config.storage.s3)
    from ojin_local.storage.filesystem import FilesystemStorage

    return FilesystemStorage(Path(config.server.data_dir), config.server.public_url)
