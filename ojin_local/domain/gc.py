"""Garbage collection: upload sessions nobody finalized within the TTL, and storage nobody owns.

Run on a schedule by the job consumer and on demand by `ojin-local gc`. Besides expired sessions
it removes what crashes leave: storage uploads no session knows (a crash between creating the
upload and recording the session), objects no asset record owns (a crash between storing and
recording, or between deleting a record and its object), the temp files of interrupted
writes and the parts of interrupted completions or deletes (`Storage.remove_debris`). Only keys
ojin-local makes (`assets/<uuid>`) are ever candidates, so a shared bucket's other objects are
safe, and only things older than a grace period, so work in flight is too.

A session expires by its organization's clock (domain.clock): moving a namespace's clock past the
TTL expires its sessions, and nobody else's. Orphans and debris are judged by real time: they
belong to no organization.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ojin_local.db import Database
from ojin_local.db.models import Asset, UploadSession, execute
from ojin_local.domain.assets import is_storage_key
from ojin_local.domain.clock import ISO_FORMAT, Clock
from ojin_local.storage import Storage

ORPHAN_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class Collected:
    expired_sessions: int
    orphan_uploads: int
    orphan_objects: int
    debris: int

    def __str__(self) -> str:
        return (
            f"aborted {self.expired_sessions} expired upload session(s) and "
            f"{self.orphan_uploads} orphaned upload(s); removed {self.orphan_objects} "
            f"orphaned object(s) and {self.debris} temp file(s) or unowned part set(s)"
        )


LEASE_KEY = "gc_lease"
LEASE_SECONDS = 600
"""Longer than any collection takes; a consumer that dies holding the lease holds it this long."""


def take_lease(holder: str) -> bool:
    """In a write transaction: whether `holder` may collect now. Every consumer (each
    `ojin-local worker`, each `serve`) schedules the periodic collection, and two at once would
    race over the same uploads and objects; the lease lets one collect at a time."""
    now = time.time()
    held = execute("SELECT value FROM meta WHERE key = ?", LEASE_KEY).fetchone()
    if held is not None and float(held[0].split(" ", 1)[0]) > now:
        return False
    execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        LEASE_KEY,
        f"{now + LEASE_SECONDS!r} {holder}",
    )
    return True


def give_back_lease(holder: str) -> None:
    execute("DELETE FROM meta WHERE key = ? AND value LIKE ?", LEASE_KEY, f"% {holder}")


def collect_garbage(
    db: Database,
    storage: Storage,
    clock: Clock,
    ttl_seconds: int,
    grace: timedelta = ORPHAN_GRACE,
) -> Collected:
    now = datetime.now(UTC)
    cutoff = now - timedelta(seconds=ttl_seconds)
    expired = expired_sessions(clock, timedelta(seconds=ttl_seconds))
    for asset_id, upload_id, key in expired:
        storage.abort_multipart_upload(key, upload_id)
        db.write_sync(_forget, asset_id)
    # Storage is listed before records are read: whatever is created meanwhile has its record
    # by the time records are read, so it is not taken for an orphan.
    uploads = storage.list_uploads()
    objects = [(key, modified) for key, modified in storage.list_objects() if is_storage_key(key)]
    # A finalized session's upload is complete: anything left under its id is debris.
    known_uploads = {
        row[0]
        for row in UploadSession.select(UploadSession.upload_id)
        .where(UploadSession.status != "finalized")
        .tuples()
    }
    owned = {row[0] for row in Asset.select(Asset.storage_key).tuples()}
    orphan_uploads = [
        (upload_id, key)
        for upload_id, key, initiated in uploads
        if upload_id not in known_uploads and initiated < cutoff
    ]
    for upload_id, key in orphan_uploads:
        storage.abort_multipart_upload(key, upload_id)
    orphan_objects = [key for key, changed in objects if key not in owned and changed < now - grace]
    for key in orphan_objects:
        storage.delete_object(key)
    debris = storage.remove_debris(now - grace)
    return Collected(len(expired), len(orphan_uploads), len(orphan_objects), debris)


def expired_sessions(clock: Clock, ttl: timedelta) -> list[tuple[str, str, str]]:
    """Open sessions older than the TTL on their organization's clock: (asset id, upload id,
    storage key)."""
    clock.load()
    expired = []
    for asset_id, upload_id, key, organization, created_at in (
        UploadSession.select(
            UploadSession.asset_id,
            UploadSession.upload_id,
            UploadSession.storage_key,
            UploadSession.organization_id,
            UploadSession.created_at,
        )
        .where(UploadSession.status == "open")
        .tuples()
    ):
        offset = timedelta(seconds=clock.of_organization(organization).offset_seconds)
        if created_at < (datetime.now(UTC) + offset - ttl).strftime(ISO_FORMAT):
            expired.append((asset_id, upload_id, key))
    return expired


def _forget(asset_id: str) -> None:
    UploadSession.delete().where(
        (UploadSession.asset_id == asset_id) & (UploadSession.status == "open")
    ).execute()
