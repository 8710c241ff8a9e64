"""The filesystem backend: objects and multipart uploads under `<data dir>/storage/`, as S3.

Layout: `objects/<key>` (one file per object), `uploads/<upload id>/` (`upload.json`, the
manifest, plus one `NNNNN.part` file per part) and `signing.key`. Object and part files carry
their metadata in a header (see `files`), so it is published with the bytes in one rename.
Temporary files of an upload live in its directory: a crash leaves nothing that aborting the
upload does not remove. An upload exists while its manifest does; a directory left without one
(a crash while creating or removing it) is listed with an empty key for garbage collection.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from ojin_local.errors import S3Error
from ojin_local.storage import (
    Part,
    Storage,
    StoredObject,
    multipart_etag,
)
from ojin_local.storage.files import (
    HEADER_BYTES,
    TempFile,
    copy,
    encode_header,
    fsync_dir,
    make_dirs,
    read_header,
    start_writeback,
    write_at,
    write_file,
)
from ojin_local.storage.rules import (
    check_part_etag,
    check_part_number,
    check_part_order,
    check_part_sizes,
    invalid_part,
    no_such_key,
    no_such_upload,
)
from ojin_local.storage.signing import (
    Signer,
    check_header_value,
    content_disposition,
    load_or_create_secret,
)

CHUNK_BYTES = 1024 * 1024
MAX_KEY_BYTES = 1024  # S3's limit
LOW_SPACE_BYTES = 100 * 1024 * 1024  # health reports an error below this much free space
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{32}")
_PART_FILE = re.compile(r"(\d{5})\.part")
_MANIFEST = "upload.json"


class FilesystemStorage(Storage):
    """Objects as files in the data dir; pre-signed URLs point back at this server."""

    backend = "filesystem"

    def __init__(self, data_dir: Path, public_url: str) -> None:
        self.root = data_dir / "storage"
        self.objects = self.root / "objects"
        self.uploads = self.root / "uploads"
        make_dirs(self.objects)
        make_dirs(self.uploads)
        self.public_url = public_url
        self.signer = Signer(load_or_create_secret(self.root / "signing.key"))

    # Multipart uploads

    def create_multipart_upload(self, key: str, content_type: str) -> str:
        self._object_path(key)
        manifest = {
            "key": key,
            "content_type": check_header_value("Content-Type", content_type),
            "created_at": datetime.now(UTC).isoformat(),
        }
        upload_id = secrets.token_urlsafe(24)  # 192 random bits
        directory = self.uploads / upload_id
        make_dirs(directory)
        write_file(directory / _MANIFEST, json.dumps(manifest).encode())
        return upload_id

    def presign_upload_part(
        self, key: str, upload_id: str, part_number: int, expires_in: int
    ) -> str:
        self._object_path(key)
        check_part_number(str(part_number))
        params = {"uploadId": upload_id, "partNumber": str(part_number)}
        return self.signer.url(self.public_url, "PUT", key, params, expires_in)

    def open_part(self, key: str, upload_id: str, part_number: int) -> PartWriter:
        """Where the bytes of one part PUT go; NoSuchUpload if there is no such upload."""
        directory, _ = self._upload(key, upload_id)
        try:
            return PartWriter(directory, part_number)
        except FileNotFoundError:  # completed or aborted since
            raise no_such_upload(upload_id) from None

    def list_parts(self, key: str, upload_id: str) -> list[Part]:
        directory, _ = self._upload(key, upload_id)
        parts = []
        for name in sorted(os.listdir(directory)):
            if found := _PART_FILE.fullmatch(name):
                try:
                    with open(directory / name, "rb", buffering=0) as part:
                        parts.append(_part_facts(int(found[1]), part))
                except FileNotFoundError:  # completed or aborted while listing
                    continue
        return parts

    def complete_multipart_upload(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> StoredObject:
        """Parts are read through files opened once, so a part replaced meanwhile cannot mix
        into the object, and an abort meanwhile makes this NoSuchUpload."""
        directory, manifest = self._upload(key, upload_id)
        check_part_order(parts)
        with ExitStack() as stack:
            files, chosen = [], []
            for number, etag in parts:
                files.append(stack.enter_context(_open_part(directory, number, etag)))
                chosen.append(_part_facts(number, files[-1]))
                check_part_etag(chosen[-1], etag)
            check_part_sizes(chosen)
            etag = multipart_etag([bytes.fromhex(part.etag.strip('"')) for part in chosen])
            try:
                with TempFile(directory) as temp:
                    size = 0
                    for file, part in zip(files, chosen, strict=True):
                        copy(file.fileno(), HEADER_BYTES, temp.fd, HEADER_BYTES + size, part.size)
                        size += part.size
                    stored = self._publish(temp, key, size, etag, manifest["content_type"])
            except FileNotFoundError:  # the upload's directory is gone: aborted
                raise no_such_upload(upload_id) from None
        _remove_upload(directory, wait=False)
        return stored

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        """An upload without a manifest is removed whatever the key: so garbage collection can
        finish a removal a crash interrupted."""
        if not _UPLOAD_ID.fullmatch(upload_id):
            return
        directory = self.uploads / upload_id
        manifest = _read_manifest(directory)
        if manifest is None or manifest["key"] == key:
            _remove_upload(directory)

    def list_uploads(self) -> list[tuple[str, str, datetime]]:
        uploads = []
        for entry in os.scandir(self.uploads):
            if not _UPLOAD_ID.fullmatch(entry.name):
                continue
            try:
                manifest = _read_manifest(Path(entry.path))
                if manifest is None:
                    since = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
                    uploads.append((entry.name, "", since))
                else:
                    created = datetime.fromisoformat(manifest["created_at"])
                    uploads.append((entry.name, manifest["key"], created))
            except FileNotFoundError:  # completed or aborted while listing
                continue
        return uploads

    # Objects

    def clear(self, key_prefix: str, keep: frozenset[str] = frozenset()) -> None:
        """One unlink per object and no fsync, so a reset stays a few ms: should the machine
        crash right after, an object may come back, an orphan that garbage collection removes."""
        for upload_id, key, _ in self.list_uploads():
            if key.startswith(key_prefix):
                self.abort_multipart_upload(key, upload_id)
        for key, _ in list(self.list_objects()):
            if key.startswith(key_prefix) and key not in keep:
                self._object_path(key).unlink(missing_ok=True)

    def list_objects(self) -> Iterator[tuple[str, datetime]]:
        for directory, _, names in os.walk(self.objects):
            for name in names:
                if name.startswith("."):
                    continue  # a temp file: see remove_debris
                path = Path(directory, name)
                try:
                    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                except FileNotFoundError:  # deleted while listing
                    continue
                yield path.relative_to(self.objects).as_posix(), modified

    def remove_debris(self, older_than: datetime) -> int:
        """Temp files ("."-named) a crash left in the objects tree or in an upload's directory."""
        removed = 0
        for root in (self.objects, self.uploads):
            for directory, _, names in os.walk(root):
                for name in names:
                    path = Path(directory, name)
                    if name.startswith(".") and _older(path, older_than):
                        path.unlink(missing_ok=True)
                        removed += 1
        return removed

    def head_object(self, key: str) -> StoredObject | None:
        try:
            reader = self.open_object(key)
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                return None
            raise
        reader.close()
        return reader.stored

    def open_object(self, key: str) -> ObjectReader:
        """The object's facts and bytes from one open file: both stay those of one version even
        if the key is overwritten or deleted while it is read. NoSuchKey if missing."""
        try:
            file = open(self._object_path(key), "rb", buffering=0)  # noqa: SIM115 (reader's)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise no_such_key(key) from None
        try:
            header = read_header(file)
            size = os.fstat(file.fileno()).st_size - HEADER_BYTES
        except BaseException:
            file.close()
            raise
        modified = datetime.fromisoformat(header["last_modified"])
        stored = StoredObject(key, size, header["etag"], header["content_type"], modified)
        return ObjectReader(stored, file)

    def presign_get_object(
        self, key: str, filename: str, content_type: str, expires_in: int
    ) -> str:
        self._object_path(key)
        params = {
            "response-content-disposition": content_disposition(filename),
            "response-content-type": check_header_value("response-content-type", content_type),
        }
        return self.signer.url(self.public_url, "GET", key, params, expires_in)

    def put_object(
        self, key: str, body: BinaryIO, content_type: str, etag: str | None = None
    ) -> StoredObject:
        target = self._object_path(key)
        check_header_value("Content-Type", content_type)
        make_dirs(target.parent)
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        with TempFile(target.parent) as temp:
            while chunk := body.read(CHUNK_BYTES):
                md5.update(chunk)
                write_at(temp.fd, chunk, HEADER_BYTES + size)
                size += len(chunk)
            etag = etag or f'"{md5.hexdigest()}"'
            return self._publish(temp, key, size, etag, content_type)

    def read_object(self, key: str) -> Iterator[bytes]:
        """Opens the object now, so a missing object raises here rather than at the first chunk."""
        reader = self.open_object(key)
        return reader.chunks(0, reader.stored.size)

    def delete_object(self, key: str) -> None:
        path = self._object_path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        fsync_dir(path.parent)

    def health(self) -> dict[str, Any]:
        """Proves the data dir writable (a file made, synced, removed) and reports free space."""
        report: dict[str, Any] = {"path": str(self.root)}
        try:
            with TempFile(self.root) as temp:
                write_at(temp.fd, b"ok", 0)
                os.fsync(temp.fd)
            stats = os.statvfs(self.root)
        except OSError as exc:
            return {"status": "error", **report, "detail": f"not writable: {exc}"}
        report["free_bytes"] = free = stats.f_bavail * stats.f_frsize
        if free < LOW_SPACE_BYTES:
            return {"status": "error", **report, "detail": "the disk is almost full"}
        return {"status": "ok", **report}

    # Helpers

    def _object_path(self, key: str) -> Path:
        """Keys are opaque but must be safe relative paths: no empty, ".." or hidden segments
        (the last also keeps keys off temporary files' names)."""
        segments = key.split("/")
        if len(key.encode()) > MAX_KEY_BYTES or any(
            not s or s.startswith(".") or "\0" in s or len(s.encode()) > 255 for s in segments
        ):
            raise S3Error(
                "InvalidArgument", "The key is not a safe path.", ArgumentName="key", Key=key
            )
        return self.objects.joinpath(*segments)

    def _upload(self, key: str, upload_id: str) -> tuple[Path, dict[str, Any]]:
        """The upload's directory and manifest; NoSuchUpload unless it exists for this key."""
        if _UPLOAD_ID.fullmatch(upload_id):
            directory = self.uploads / upload_id
            manifest = _read_manifest(directory)
            if manifest is not None and manifest["key"] == key:
                return directory, manifest
        raise no_such_upload(upload_id)

    def _publish(
        self, temp: TempFile, key: str, size: int, etag: str, content_type: str
    ) -> StoredObject:
        """The header goes in, then the one rename over the key: the object appears whole."""
        now = datetime.now(UTC).replace(microsecond=0)  # HTTP dates have whole seconds
        header = {"etag": etag, "content_type": content_type, "last_modified": now.isoformat()}
        target = self._object_path(key)
        make_dirs(target.parent)
        temp.commit(encode_header(header), target)
        return StoredObject(key, size, etag, content_type, now)


class PartWriter:
    """One part being received: bytes go to a temp file and into MD5, then `commit` renames it
    over any earlier part of that number, so readers see the old part or the new one.

    `hash` and `store` are blocking and may run at once in two threads (both release the GIL),
    each called in order; a lock makes `discard` wait for a store in flight, so the descriptor
    is never closed under it.
    """

    def __init__(self, directory: Path, part_number: int) -> None:
        self.part_number = part_number
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._lock = threading.Lock()
        self._final = directory / f"{part_number:05d}.part"
        self._temp = TempFile(directory)

    def hash(self, data: bytes | memoryview) -> None:
        self._md5.update(data)

    def store(self, data: bytes | memoryview) -> None:
        with self._lock:
            write_at(self._temp.fd, data, HEADER_BYTES + self.size)
            self.size += len(data)
            start_writeback(self._temp.fd, HEADER_BYTES + self.size)

    def commit(self) -> Part:
        with self._lock:
            digest = self._md5.hexdigest()
            try:
                self._temp.commit(encode_header({"md5": digest}), self._final)
            except FileNotFoundError:  # completed or aborted while receiving
                raise no_such_upload(self._final.parent.name) from None
        return Part(self.part_number, f'"{digest}"', self.size)

    def discard(self) -> None:
        with self._lock:
            self._temp.discard()


class ObjectReader:
    """An open object; `read` is blocking and, like `close`, safe to call from any thread (a
    lock keeps `close` from closing the file under a read in flight)."""

    def __init__(self, stored: StoredObject, file: io.FileIO) -> None:
        self.stored = stored
        self._file = file
        self._lock = threading.Lock()

    def read(self, offset: int, length: int) -> bytes:
        with self._lock:
            return os.pread(self._file.fileno(), length, HEADER_BYTES + offset)

    def chunks(self, offset: int, length: int) -> Iterator[bytes]:
        """`length` bytes from `offset`, 1 MiB at a time; closes the object at the end."""
        try:
            while length > 0:
                chunk = self.read(offset, min(CHUNK_BYTES, length))
                if not chunk:
                    raise OSError(f"{self.stored.key} ended early")
                offset += len(chunk)
                length -= len(chunk)
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        with self._lock:
            self._file.close()


# Uploads on disk


def _open_part(directory: Path, number: int, etag: str) -> io.FileIO:
    try:
        return open(directory / f"{number:05d}.part", "rb", buffering=0)
    except FileNotFoundError:
        raise invalid_part(number, etag) from None


def _part_facts(number: int, part: io.FileIO) -> Part:
    md5 = read_header(part)["md5"]
    return Part(number, f'"{md5}"', os.fstat(part.fileno()).st_size - HEADER_BYTES)


def _older(path: Path, than: datetime) -> bool:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC) < than
    except FileNotFoundError:
        return False


def _read_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / _MANIFEST).read_bytes())
    except (FileNotFoundError, NotADirectoryError):
        return None


def _remove_upload(directory: Path, *, wait: bool = True) -> None:
    """The manifest goes first: from then on the upload is unknown to every request. Without
    `wait` the parts go on a thread (after a completion, where unlinking them was a third of the
    time); a crash before they are gone leaves a directory `list_uploads` reports."""
    (directory / _MANIFEST).unlink(missing_ok=True)
    remove = functools.partial(shutil.rmtree, directory, ignore_errors=True)
    if wait:
        remove()
    else:
        threading.Thread(target=remove, name="ojin-remove-parts", daemon=True).start()
