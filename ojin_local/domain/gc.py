"""Garbage collection: upload sessions nobody finalized within the TTL, and their parts.

Run by `ojin-local gc` (and, once the job consumer lands, periodically). Storage uploads that no
session knows (e.g. left by a crash between creating the upload and recording the session) are
aborted too once they are older than the TTL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ojin_local.db import Database
from ojin_local.db.models import UploadSession
from ojin_local.storage import Storage


@dataclass(frozen=True)
class Collected:
    expired_sessions: int
    orphan_uploads: int


def collect_garbage(db: Database, storage: Storage, ttl_seconds: int) -> Collected:
    cutoff = datetime.now(UTC) - timedelta(seconds=ttl_seconds)
    cutoff_text = cutoff.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    expired = list(
        UploadSession.select(
            UploadSession.asset_id, UploadSession.upload_id, UploadSession.storage_key
        )
        .where((UploadSession.status == "open") & (UploadSession.created_at < cutoff_text))
        .tuples()
    )
    for asset_id, upload_id, key in expired:
        storage.abort_multipart_upload(key, upload_id)
        db.write_sync(_forget, asset_id)
    # Storage is listed before sessions are read: an upload created meanwhile has its session
    # recorded by the time the sessions are read, so it is not taken for an orphan.
    uploads = storage.list_uploads()
    known = {row[0] for row in UploadSession.select(UploadSession.upload_id).tuples()}
    orphans = [
        (upload_id, key)
        for upload_id, key, initiated in uploads
        if upload_id not in known and initiated < cutoff
    ]
    for upload_id, key in orphans:
        storage.abort_multipart_upload(key, upload_id)
    return Collected(len(expired), len(orphans))


def _forget(asset_id: str) -> None:
    UploadSession.delete().where(
        (UploadSession.asset_id == asset_id) & (UploadSession.status == "open")
    ).execute()
