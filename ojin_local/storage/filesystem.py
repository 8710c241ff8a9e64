"""The filesystem backend: S3's multipart semantics over the byte store under `<data dir>/storage/`.

The byte store (`bytestore`) keeps the files; this module applies S3's rules to them, and its
object server (`object_server`) answers the pre-signed URLs it hands out. See `bytestore` for
the layout on disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from ojin_local.errors import S3Error
from ojin_local.storage import Part, Storage, StoredObject
from ojin_local.storage.bytestore import ByteStore, remove_upload
from ojin_local.storage.files import TempFile, write_at
from ojin_local.storage.object_server import ObjectServer
from ojin_local.storage.rules import (
    check_part_etag,
    check_part_number,
    check_part_order,
    check_part_sizes,
    no_such_upload,
)
from ojin_local.storage.signing import (
    Signer,
    check_header_value,
    content_disposition,
    load_or_create_secret,
)

LOW_SPACE_BYTES = 100 * 1024 * 1024  # health reports an error below this much free space


class FilesystemStorage(Storage):
    """Objects as files in the data dir; pre-signed URLs point back at this server."""

    backend = "filesystem"

    def __init__(self, data_dir: Path, public_url: str) -> None:
        self.store = ByteStore(data_dir / "storage")
        signer = Signer(load_or_create_secret(self.store.root / "signing.key"))
        self.object_server = ObjectServer(self.store, signer, public_url)

    # Multipart uploads

    def create_multipart_upload(self, key: str, content_type: str) -> str:
        return self.store.create_upload(key, check_header_value("Content-Type", content_type))

    def presign_upload_part(
        self, key: str, upload_id: str, part_number: int, expires_in: int
    ) -> str:
        self.store.object_path(key)
        check_part_number(str(part_number))
        params = {"uploadId": upload_id, "partNumber": str(part_number)}
        return self.object_server.sign("PUT", key, params, expires_in)

    def list_parts(self, key: str, upload_id: str) -> list[Part]:
        return self.store.list_parts(key, upload_id)

    def complete_multipart_upload(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> StoredObject:
        """Parts are checked through files opened once, and those very files become the
        object (see `ByteStore.complete`): no byte is copied, whatever the object's size."""
        directory, manifest = self.store.upload(key, upload_id)
        check_part_order(parts)
        with ExitStack() as stack:
            opened = []
            for number, etag in parts:
                opened.append(self.store.open_listed(stack, directory, number, etag))
                check_part_etag(opened[-1][1], etag)
            check_part_sizes([part for _, part in opened])
            try:
                stored = self.store.complete(key, directory, opened, manifest["content_type"])
            except FileNotFoundError:  # the upload's directory is gone: aborted
                raise no_such_upload(upload_id) from None
        remove_upload(directory, wait=False)
        return stored

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        self.store.abort(key, upload_id)

    def list_uploads(self) -> list[tuple[str, str, datetime]]:
        return self.store.list_uploads()

    # Objects

    def discard(self, objects: Sequence[str], uploads: Sequence[tuple[str, str]] = ()) -> None:
        self.store.discard(objects, [upload_id for _, upload_id in uploads])

    def list_objects(self) -> Iterator[tuple[str, datetime]]:
        return self.store.keys()

    def remove_debris(self, older_than: datetime) -> int:
        return self.store.remove_debris(older_than)

    def head_object(self, key: str) -> StoredObject | None:
        try:
            reader = self.store.open_object(key)
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                return None
            raise
        reader.close()
        return reader.stored

    def presign_get_object(
        self, key: str, filename: str, content_type: str, expires_in: int
    ) -> str:
        self.store.object_path(key)
        params = {
            "response-content-disposition": content_disposition(filename),
            "response-content-type": check_header_value("response-content-type", content_type),
        }
        return self.object_server.sign("GET", key, params, expires_in)

    def put_object(
        self, key: str, body: BinaryIO, content_type: str, etag: str | None = None
    ) -> StoredObject:
        check_header_value("Content-Type", content_type)
        return self.store.put(key, body, content_type, etag)

    def read_object(self, key: str) -> Iterator[bytes]:
        """Opens the object now, so a missing object raises here rather than at the first chunk."""
        reader = self.store.open_object(key)
        return reader.chunks(0, reader.stored.size)

    def delete_object(self, key: str) -> None:
        self.store.delete(key)

    def health(self) -> dict[str, Any]:
        """Proves the data dir writable (a file made, synced, removed) and reports free space."""
        root = self.store.root
        report: dict[str, Any] = {"path": str(root)}
        try:
            with TempFile(root) as temp:
                write_at(temp.fd, b"ok", 0)
                os.fsync(temp.fd)
            stats = os.statvfs(root)
        except OSError as exc:
            return {"status": "error", **report, "detail": f"not writable: {exc}"}
        report["free_bytes"] = free = stats.f_bavail * stats.f_frsize
        if free < LOW_SPACE_BYTES:
            return {"status": "error", **report, "detail": "the disk is almost full"}
        return {"status": "ok", **report}
