"""The filesystem backend's byte store: objects, uploads and parts as files, without S3's rules.

Layout under `<data dir>/storage/`:
- `uploads/<upload id>/`: `upload.json` (key, content type, start) and one `NNNNN.part` file per
  part number. An upload exists while its `upload.json` does; a directory without one (a crash
  while creating or removing it) is listed with an empty key for garbage collection.
- `objects/<key>`: a data file (a header, then the bytes: objects stored whole, and every object
  written by versions before manifests) or a manifest: the object's facts, the blob holding its
  parts and each part's number, size and MD5, in order.
- `blobs/<blob id>/NNNNN.part`: a completed upload's part files, hard links to the upload's, so
  completing copies no byte, and a part PUT after it (a new file renamed over the upload's name)
  cannot change them. A blob no manifest names (a crash in a completion or a delete) is debris.
Part and data files carry their metadata in a header (see `files`), published with the bytes in
one rename; a manifest appears in one rename too, after its blob is durable.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import functools
import hashlib
import io
import itertools
import json
import os
import re
import secrets
import shutil
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from ojin_local.errors import S3Error
from ojin_local.storage import Part, StoredObject, multipart_etag
from ojin_local.storage.files import (
    HEADER_BYTES,
    TempFile,
    encode_header,
    encode_manifest,
    fsync_dir,
    make_dirs,
    read_meta,
    start_writeback,
    write_at,
    write_file,
)
from ojin_local.storage.rules import invalid_part, no_such_key, no_such_upload

CHUNK_BYTES = 1024 * 1024
MAX_KEY_BYTES = 1024  # S3's limit
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{32}")
_BLOB_ID = re.compile(r"[0-9a-f]{32}")
_PART_FILE = re.compile(r"(\d{5})\.part")
_UPLOAD_MANIFEST = "upload.json"


def _part_name(number: int) -> str:
    return f"{number:05d}.part"


@dataclass(frozen=True)
class Segment:
    """A run of an object's bytes: `size` bytes from HEADER_BYTES in the file at `path`."""

    path: Path
    size: int


class ByteStore:
    """The files under one `storage/` directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.uploads = root / "uploads"
        self.blobs = root / "blobs"
        for directory in (self.objects, self.uploads, self.blobs):
            make_dirs(directory)

    # Uploads

    def create_upload(self, key: str, content_type: str) -> str:
        self.object_path(key)
        manifest = {
            "key": key,
            "content_type": content_type,
            "created_at": datetime.now(UTC).isoformat(),
        }
        upload_id = secrets.token_urlsafe(24)  # 192 random bits
        directory = self.uploads / upload_id
        make_dirs(directory)
        write_file(directory / _UPLOAD_MANIFEST, json.dumps(manifest).encode())
        return upload_id

    def upload(self, key: str, upload_id: str) -> tuple[Path, dict[str, Any]]:
        """The upload's directory and manifest; NoSuchUpload unless it exists for this key."""
        if _UPLOAD_ID.fullmatch(upload_id):
            directory = self.uploads / upload_id
            manifest = _read_upload_manifest(directory)
            if manifest is not None and manifest["key"] == key:
                return directory, manifest
        raise no_such_upload(upload_id)

    def open_part(self, key: str, upload_id: str, part_number: int) -> PartWriter:
        """Where the bytes of one part PUT go; NoSuchUpload if there is no such upload."""
        directory, _ = self.upload(key, upload_id)
        try:
            return PartWriter(directory, part_number)
        except FileNotFoundError:  # completed or aborted since
            raise no_such_upload(upload_id) from None

    def list_parts(self, key: str, upload_id: str) -> list[Part]:
        directory, _ = self.upload(key, upload_id)
        parts = []
        for name in sorted(os.listdir(directory)):
            if found := _PART_FILE.fullmatch(name):
                try:
                    with open(directory / name, "rb", buffering=0) as part:
                        parts.append(_part_facts(int(found[1]), part))
                except FileNotFoundError:  # completed or aborted while listing
                    continue
        return parts

    def open_listed(
        self, stack: ExitStack, directory: Path, number: int, etag: str
    ) -> tuple[io.FileIO, Part]:
        """A listed part opened (closed with `stack`), with its facts; InvalidPart if it was
        never uploaded. Completion checks and links the file opened here."""
        path = directory / _part_name(number)
        try:
            file = stack.enter_context(open(path, "rb", buffering=0))  # noqa: SIM115 (stack's)
        except FileNotFoundError:
            raise invalid_part(number, etag) from None
        return file, _part_facts(number, file)

    def complete(
        self, key: str, directory: Path, parts: Sequence[tuple[io.FileIO, Part]], content_type: str
    ) -> StoredObject:
        """Publish the opened parts as the object: linked into a new blob, made durable, then
        named by a manifest renamed over the key. A part replaced since it was opened is
        InvalidPart (its link is not the file that was checked), an upload aborted meanwhile
        NoSuchUpload; either way nothing is published and the blob goes."""
        blob_id = secrets.token_hex(16)
        blob = self.blobs / blob_id
        blob.mkdir()
        try:
            fsync_dir(self.blobs)
            for file, part in parts:
                link = blob / _part_name(part.part_number)
                try:
                    os.link(directory / link.name, link)
                except FileNotFoundError:
                    raise no_such_upload(directory.name) from None
                if not os.path.samestat(os.stat(link), os.fstat(file.fileno())):
                    raise invalid_part(part.part_number, part.etag)
            fsync_dir(blob)
            if not (directory / _UPLOAD_MANIFEST).exists():
                raise no_such_upload(directory.name)
            etag = multipart_etag([bytes.fromhex(part.etag.strip('"')) for _, part in parts])
            size = sum(part.size for _, part in parts)
            fields = {
                "blob": blob_id,
                "parts": [[p.part_number, p.size, p.etag.strip('"')] for _, p in parts],
            }
            target = self.object_path(key)
            make_dirs(target.parent)
            with TempFile(target.parent) as temp:
                return self._publish(temp, key, size, etag, content_type, fields)
        except BaseException:
            if self._blob_of(self.object_path(key)) != blob:  # not published after all
                remove_folder(blob)
            raise

    def abort(self, key: str, upload_id: str) -> None:
        """An upload without a manifest is removed whatever the key: so garbage collection can
        finish a removal a crash interrupted."""
        if not _UPLOAD_ID.fullmatch(upload_id):
            return
        directory = self.uploads / upload_id
        manifest = _read_upload_manifest(directory)
        if manifest is None or manifest["key"] == key:
            remove_upload(directory)

    def list_uploads(self) -> list[tuple[str, str, datetime]]:
        uploads = []
        for entry in os.scandir(self.uploads):
            if not _UPLOAD_ID.fullmatch(entry.name):
                continue
            try:
                manifest = _read_upload_manifest(Path(entry.path))
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

    def object_path(self, key: str) -> Path:
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

    def open_object(self, key: str) -> ObjectReader:
        """The object's facts, with its first file open; NoSuchKey if missing."""
        path = self.object_path(key)
        try:
            file = open(path, "rb", buffering=0)  # noqa: SIM115 (the reader's)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise no_such_key(key) from None
        try:
            fields, is_manifest = read_meta(file.fileno())
            if is_manifest:
                segments = [
                    Segment(self.blobs / fields["blob"] / _part_name(number), size)
                    for number, size, _ in fields["parts"]
                ]
                file.close()
                file = open(segments[0].path, "rb", buffering=0)  # noqa: SIM115
            else:
                segments = [Segment(path, os.fstat(file.fileno()).st_size - HEADER_BYTES)]
        except FileNotFoundError:  # the blob: deleted since the manifest was read
            file.close()
            raise no_such_key(key) from None
        except BaseException:
            file.close()
            raise
        size = sum(segment.size for segment in segments)
        modified = datetime.fromisoformat(fields["last_modified"])
        stored = StoredObject(key, size, fields["etag"], fields["content_type"], modified)
        return ObjectReader(stored, segments, file)

    def put(self, key: str, body: BinaryIO, content_type: str, etag: str | None) -> StoredObject:
        """A whole object as one data file (seed images, videos, restored snapshots)."""
        target = self.object_path(key)
        make_dirs(target.parent)
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        with TempFile(target.parent) as temp:
            while chunk := body.read(CHUNK_BYTES):
                md5.update(chunk)
                write_at(temp.fd, chunk, HEADER_BYTES + size)
                size += len(chunk)
            return self._publish(temp, key, size, etag or f'"{md5.hexdigest()}"', content_type)

    def delete(self, key: str) -> None:
        """The key goes first (fsynced), then the blob it named."""
        path = self.object_path(key)
        blob = self._blob_of(path)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return
        fsync_dir(path.parent)
        if blob is not None:
            remove_folder(blob)

    def discard(self, keys: Sequence[str], upload_ids: Sequence[str]) -> None:
        """Objects and uploads whose records are gone (a reset), unsynced. Each key is renamed
        to a temp name and each upload's manifest unlinked now, so no request finds them; the
        rest goes on a thread: on this disk every file of freshly synced ones took 0.1-0.3 ms
        to remove, most of a namespace reset. A crash before then leaves temp files and blobs
        nobody names, which `remove_debris` collects, and uploads `abort` does."""
        discarded = []
        for key in keys:
            path = self.object_path(key)
            temp = path.with_name(f".discarded-{secrets.token_hex(8)}")
            try:
                path.rename(temp)
            except (FileNotFoundError, NotADirectoryError):
                continue
            discarded.append(temp)
        folders = []
        for upload_id in upload_ids:
            if _UPLOAD_ID.fullmatch(upload_id):
                (self.uploads / upload_id / _UPLOAD_MANIFEST).unlink(missing_ok=True)
                folders.append(self.uploads / upload_id)
        if discarded or folders:
            threading.Thread(
                target=self._remove_discarded,
                args=(discarded, folders),
                name="ojin-discard",
                daemon=True,
            ).start()

    def _remove_discarded(self, discarded: list[Path], folders: list[Path]) -> None:
        for path in discarded:
            blob = self._blob_of(path)
            path.unlink(missing_ok=True)
            if blob is not None:
                remove_folder(blob)
        for folder in folders:
            remove_folder(folder)

    def keys(self) -> Iterator[tuple[str, datetime]]:
        """Every object: (key, last modified)."""
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
        """Temp files ("."-named) a crash left in the objects tree or an upload's directory,
        and blobs no manifest names (listed before the manifests are read, so a blob completed
        meanwhile is seen as owned)."""
        removed = 0
        for root in (self.objects, self.uploads):
            for directory, _, names in os.walk(root):
                for name in names:
                    path = Path(directory, name)
                    if name.startswith(".") and _older(path, older_than):
                        path.unlink(missing_ok=True)
                        removed += 1
        blobs = [entry.name for entry in os.scandir(self.blobs) if _BLOB_ID.fullmatch(entry.name)]
        owned = {self._blob_of(self.object_path(key)) for key, _ in self.keys()}
        for name in blobs:
            blob = self.blobs / name
            if blob not in owned and _older(blob, older_than):
                remove_folder(blob)
                removed += 1
        return removed

    # Helpers

    def _blob_of(self, path: Path) -> Path | None:
        """The blob a manifest at `path` names; None for a data file or no file."""
        try:
            with open(path, "rb", buffering=0) as file:
                fields, is_manifest = read_meta(file.fileno())
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        return self.blobs / fields["blob"] if is_manifest else None

    def _publish(
        self,
        temp: TempFile,
        key: str,
        size: int,
        etag: str,
        content_type: str,
        manifest: dict[str, Any] | None = None,
    ) -> StoredObject:
        """The metadata goes in, then the one rename over the key: the object appears whole.
        A manifest replaced by it gives up its blob."""
        now = datetime.now(UTC).replace(microsecond=0)  # HTTP dates have whole seconds
        facts = {"etag": etag, "content_type": content_type, "last_modified": now.isoformat()}
        target = self.object_path(key)
        replaced = self._blob_of(target)
        head = encode_header(facts) if manifest is None else encode_manifest(facts | manifest)
        temp.commit(head, target)
        if replaced is not None:
            remove_folder(replaced)
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
        self._final = directory / _part_name(part_number)
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
    """An open object, read across its segments (one file per part, or one data file).

    A data file is open from the start, so its bytes stay those of one version whatever happens
    to the key; a part file is opened when reading reaches it, so a multi-part object deleted
    while it is read ends early (an OSError), never with other bytes: every blob is new. The
    blocking methods, like `close`, are safe from any thread (a lock keeps `close` from closing
    a file under a read in flight).
    """

    def __init__(
        self, stored: StoredObject, segments: list[Segment], file: io.FileIO | None
    ) -> None:
        self.stored = stored
        self._segments = segments
        self._starts = list(itertools.accumulate((s.size for s in segments), initial=0))[:-1]
        self._file = file
        self._index = 0
        self._lock = threading.Lock()

    def read(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset`, fewer at the end of a part."""
        with self._lock:
            fd, position, left = self._locate(offset)
            chunk = os.pread(fd, min(length, left), position)
        if not chunk:
            raise OSError(errno.EIO, f"{self.stored.key} ended early")
        return chunk

    def send(self, socket_fd: int, offset: int, length: int) -> int:
        """Up to `length` bytes from `offset` sent by the kernel to a non-blocking socket
        (sendfile), fewer at the end of a part; 0 if the socket's buffer is full. OSError
        EINVAL/ENOSYS/EOPNOTSUPP where sendfile cannot be used."""
        with self._lock:
            fd, position, left = self._locate(offset)
            try:
                sent = os.sendfile(socket_fd, fd, position, min(length, left))
            except BlockingIOError:
                return 0
        if sent == 0:
            raise OSError(errno.EIO, f"{self.stored.key} ended early")
        return sent

    def _locate(self, offset: int) -> tuple[int, int, int]:
        """(descriptor, file offset, bytes left in that file) of the object's byte at
        `offset`, opening its segment's file if need be; the caller holds the lock."""
        index = bisect.bisect_right(self._starts, offset) - 1
        if self._file is None or index != self._index:
            if self._file is not None:
                self._file.close()
                self._file = None
            self._file = open(self._segments[index].path, "rb", buffering=0)  # noqa: SIM115
            self._index = index
        within = offset - self._starts[index]
        return self._file.fileno(), HEADER_BYTES + within, self._segments[index].size - within

    def chunks(self, offset: int, length: int) -> Iterator[bytes]:
        """`length` bytes from `offset`, 1 MiB at a time; closes the object at the end."""
        try:
            while length > 0:
                chunk = self.read(offset, min(CHUNK_BYTES, length))
                offset += len(chunk)
                length -= len(chunk)
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


# Uploads on disk


def _part_facts(number: int, part: io.FileIO) -> Part:
    md5 = read_meta(part.fileno())[0]["md5"]
    return Part(number, f'"{md5}"', os.fstat(part.fileno()).st_size - HEADER_BYTES)


def _older(path: Path, than: datetime) -> bool:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC) < than
    except FileNotFoundError:
        return False


def _read_upload_manifest(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / _UPLOAD_MANIFEST).read_bytes())
    except (FileNotFoundError, NotADirectoryError):
        return None


def remove_folder(directory: Path) -> None:
    """A blob's or an upload's folder, which holds files only: one scandir and an unlink each
    (shutil.rmtree's fd-safe walk took ~0.4 ms a folder, most of a namespace reset). Best
    effort, as rmtree with ignore_errors: a file a racing part PUT adds meanwhile leaves the
    folder behind, debris that garbage collection removes."""
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)  # not ours; gone all the same
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
        os.rmdir(directory)
    except OSError:
        return


def remove_upload(directory: Path, *, wait: bool = True) -> None:
    """The manifest goes first: from then on the upload is unknown to every request. Without
    `wait` the part names go on a thread (after a completion, where unlinking them was a third
    of the time); a crash before they are gone leaves a directory `list_uploads` reports."""
    (directory / _UPLOAD_MANIFEST).unlink(missing_ok=True)
    remove = functools.partial(remove_folder, directory)
    if wait:
        remove()
    else:
        threading.Thread(target=remove, name="ojin-remove-parts", daemon=True).start()
