"""State snapshots: the whole database and every asset's object, as one gzipped tar archive.

Layout: `manifest.json` first (format name and version, schema version, counts), then
`database.sqlite3` (an online backup), then `objects/<key>` for each object an asset record owns,
its content type and ETag in the member's PAX headers. An import checks all of it before it
changes anything: a corrupt, foreign or newer archive is refused and the current state stays.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ojin_local.db import Database
from ojin_local.db.migrations import SCHEMA_VERSION
from ojin_local.domain.assets import KEY_PREFIX, is_storage_key
from ojin_local.domain.clock import now_iso
from ojin_local.domain.jobs import Queue
from ojin_local.errors import ValidationError, field_error
from ojin_local.storage import Storage

FORMAT = "ojin-local-snapshot"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATABASE = "database.sqlite3"
OBJECTS = "objects/"
CONTENT_TYPE = "OJIN.content_type"
ETAG = "OJIN.etag"


@dataclass(frozen=True)
class Snapshot:
    """What an import found in an archive, staged on disk."""

    manifest: dict[str, Any]
    database: Path
    objects: list[tuple[str, Path, str, str]]  # key, staged file, content type, etag


def export_snapshot(db: Database, storage: Storage, target: Path) -> dict[str, Any]:
    """Write the archive to `target`; returns its manifest. Blocking."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".snapshot-") as scratch:
        database = Path(scratch, DATABASE)
        db.backup_to(database)
        with closing(sqlite3.connect(database)) as copy:
            keys = [row[0] for row in copy.execute("SELECT storage_key FROM asset ORDER BY 1")]
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "schema_version": SCHEMA_VERSION,
            "created_at": now_iso(),
            "storage_backend": storage.backend,
            "objects": len(keys),
        }
        # Level 1: objects are mostly media, already compressed; the rest is small.
        with tarfile.open(target, "w:gz", compresslevel=1, format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2).encode())
            tar.add(database, DATABASE)
            for key in keys:
                stored = storage.head_object(key)
                if stored is None:
                    continue  # its record is being deleted: the snapshot's copy is stale anyway
                member = tarfile.TarInfo(OBJECTS + key)
                member.size = stored.size
                member.pax_headers = {CONTENT_TYPE: stored.content_type, ETAG: stored.etag}
                tar.addfile(member, _ChunkReader(storage.read_object(key)))
    return manifest


def read_snapshot(archive: Path, scratch: Path) -> Snapshot:
    """Unpack and check an archive into `scratch`; ValidationError if it is not usable."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = iter(tar)
            first = next(members, None)
            if first is None or first.name != MANIFEST:
                refuse("it does not start with manifest.json")
            manifest = _manifest(_read_member(tar, first))
            database, objects = None, []
            for member in members:
                if member.name == DATABASE and member.isfile():
                    database = scratch / DATABASE
                    _extract(tar, member, database)
                elif member.name.startswith(OBJECTS) and member.isfile():
                    key = member.name.removeprefix(OBJECTS)
                    if not is_storage_key(key):
                        refuse(f"it holds an object with a foreign key {key!r}")
                    staged = scratch / f"object-{len(objects)}"
                    _extract(tar, member, staged)
                    headers = member.pax_headers
                    facts = (headers.get(CONTENT_TYPE, ""), headers.get(ETAG, ""))
                    objects.append((key, staged, *facts))
                else:
                    refuse(f"it holds an unexpected member {member.name!r}")
    except (tarfile.TarError, EOFError, OSError, UnicodeDecodeError) as exc:
        refuse(f"it is not a readable gzipped tar archive ({exc})")
    if database is None:
        refuse("it has no database.sqlite3")
    _check_database(database, manifest, {key for key, *_ in objects})
    return Snapshot(manifest, database, objects)


def import_snapshot(
    db: Database, storage: Storage, queue: Queue, snapshot: Snapshot
) -> dict[str, Any]:
    """Replace the current state with a checked snapshot. Blocking. Objects go in first, then
    the database is swapped in one step, then objects only the old state owned are removed: a
    failure part-way leaves every record with its object. The queue is emptied first; the
    caller enqueues the snapshot's queued jobs (domain.jobs.recover)."""
    queue.clear()
    for key, staged, content_type, etag in snapshot.objects:
        with staged.open("rb") as body:
            storage.put_object(key, body, content_type or "application/octet-stream", etag or None)
    db.restore_from(snapshot.database)
    storage.clear(KEY_PREFIX, keep=frozenset(key for key, *_ in snapshot.objects))
    return snapshot.manifest


def refuse(reason: str) -> Any:
    raise ValidationError(
        f"Not a usable ojin-local snapshot: {reason}.", [field_error("(body)", reason)]
    )


def _manifest(raw: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        refuse("its manifest.json is not JSON")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        refuse(f"its manifest does not say format {FORMAT!r}")
    if manifest.get("version") != FORMAT_VERSION:
        refuse(f"it is format version {manifest.get('version')!r}; this reads {FORMAT_VERSION}")
    schema = manifest.get("schema_version")
    if not isinstance(schema, int) or not 1 <= schema <= SCHEMA_VERSION:
        refuse(f"its database schema {schema!r} is newer than this ojin-local's")
    return manifest


def _check_database(path: Path, manifest: dict[str, Any], keys: set[str]) -> None:
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as copy:
            if copy.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                refuse("its database fails SQLite's integrity check")
            if copy.execute("PRAGMA user_version").fetchone()[0] != manifest["schema_version"]:
                refuse("its database's schema version differs from its manifest's")
            owned = {row[0] for row in copy.execute("SELECT storage_key FROM asset")}
    except sqlite3.DatabaseError as exc:
        refuse(f"its database cannot be read ({exc})")
    missing = owned - keys
    if missing:
        refuse(f"{len(missing)} asset record(s) have no object in it")


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    source = tar.extractfile(member)
    if source is None or member.size > 1024 * 1024:
        refuse(f"{member.name} is not a small file")
    return source.read()


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    source = tar.extractfile(member)
    assert source is not None  # a regular file, checked by the caller
    with target.open("wb") as out:
        shutil.copyfileobj(source, out, 1024 * 1024)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    tar.addfile(member, io.BytesIO(data))


class _ChunkReader(io.RawIOBase):
    """A file-like view of an iterator of byte chunks, for tarfile.addfile."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._view = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._view:
            chunk = next(self._chunks, b"")
            if not chunk:
                return 0
            self._view = memoryview(chunk)
        size = min(len(buffer), len(self._view))
        buffer[:size] = self._view[:size]
        self._view = self._view[size:]
        return size
