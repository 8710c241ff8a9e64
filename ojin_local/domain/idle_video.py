"""The ojin/oris-1.0 idle video generator: a still image in, a looping MP4 asset out, as a job.

Submission checks what can be checked at once (the body, that the source is visible and an
image) and answers 202 with the job; the job reads the image through the storage layer, renders
the video (`ojin_local.media.idle_video`) and records it as a new asset of the caller's
organization. The new asset's id is derived from the job's, so a job run twice (its process
died after storing the video) finds its video instead of making a second one.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import PurePath
from typing import Any

from ojin_local import spec
from ojin_local.db import Database
from ojin_local.db.models import Asset, Job
from ojin_local.domain.assets import Assets, record_asset, storage_key
from ojin_local.domain.auth import Principal
from ojin_local.domain.jobs import Jobs
from ojin_local.errors import JobFailure, S3Error, ValidationError, field_error
from ojin_local.storage import Storage, StoredObject

(IDLE_VIDEO,) = spec.enum("OjinJobType")  # the one job type there is
MAX_SOURCE_BYTES = 64 * 1024 * 1024  # read into memory to decode; larger is not a portrait
VIDEO_NAMESPACE = uuid.UUID("6f1c2b0e-3d4a-4e5f-9a8b-7c6d5e4f3a2b")
MAX_NAME = 255


class IdleVideos:
    """The API side: validate and queue."""

    def __init__(self, jobs: Jobs, assets: Assets, delay_seconds: int) -> None:
        self.jobs = jobs
        self.assets = assets
        self.delay_seconds = delay_seconds

    async def submit(self, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
        source = self.assets.get(principal, data["source_asset_id"])
        if not is_image(source):
            raise ValidationError(
                f"Asset {source['asset_id']} is not an image ({source['content_type']}).",
                [field_error("source_asset_id", "must name an image asset")],
            )
        parameters = {
            "source_asset_id": source["asset_id"],
            "reference_template": data["reference_template"],
        }
        job = await self.jobs.submit(principal, IDLE_VIDEO, parameters, self.delay_seconds)
        return {"job_id": job["job_id"]}


def is_image(asset: dict[str, Any]) -> bool:
    return asset["category"] == "image" or asset["content_type"].startswith("image/")


def generate_idle_video(
    db: Database, storage: Storage, max_side: int, job: dict[str, Any]
) -> dict[str, Any]:
    """The job: runs in a consumer's worker. Storage errors propagate (the job is retried)."""
    from ojin_local.media.idle_video import InvalidSourceImage, VideoSettings, render_idle_video

    asset_id = video_asset_id(job["job_id"])
    if Asset.select().where(Asset.asset_id == asset_id).exists():
        return {"asset_id": asset_id}
    template = job["parameters"]["reference_template"]
    source = _source(job["parameters"]["source_asset_id"])
    image = _read_source(storage, source)
    try:
        video = render_idle_video(image, template, VideoSettings(max_side=max_side))
    except InvalidSourceImage as exc:
        raise JobFailure("INVALID_SOURCE_IMAGE", f"{source['name']}: {exc}") from exc
    stored = storage.put_object(storage_key(asset_id), io.BytesIO(video), "video/mp4")
    name = video_name(source["name"], template)
    if not db.write_sync(_record_result, job, asset_id, name, stored):
        storage.delete_object(stored.key)
    return {"asset_id": asset_id}


def _record_result(job: dict[str, Any], asset_id: str, name: str, stored: StoredObject) -> bool:
    """The video becomes an asset only while its job exists: a reset (of the server or of a
    namespace) that removed the job while it ran leaves nothing behind."""
    if not Job.select().where(Job.job_id == job["job_id"]).exists():
        return False
    record_asset(asset_id, job["organization_id"], job["created_by"], name, "video", stored)
    return True


def video_asset_id(job_id: str) -> str:
    """A version-4 UUID, as every id of the API is, but derived from the job's id: 122 bits of
    a hash where uuid4 has 122 random ones."""
    digest = hashlib.sha256(VIDEO_NAMESPACE.bytes + job_id.encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def video_name(source_name: str, template: str) -> str:
    suffix = f"-idle-{template}.mp4"
    stem = PurePath(source_name).stem or "video"
    return stem[: MAX_NAME - len(suffix)] + suffix


def _source(asset_id: str) -> dict[str, Any]:
    source = Asset.select().where(Asset.asset_id == asset_id).dicts().first()
    if source is None:
        raise JobFailure(
            "SOURCE_ASSET_NOT_FOUND", f"Source asset {asset_id} was deleted before the job ran."
        )
    return source


def _read_source(storage: Storage, source: dict[str, Any]) -> bytes:
    if source["size_bytes"] > MAX_SOURCE_BYTES:
        raise JobFailure(
            "INVALID_SOURCE_IMAGE",
            f"{source['name']} is {source['size_bytes']} bytes; images up to "
            f"{MAX_SOURCE_BYTES} bytes are accepted.",
        )
    try:
        return b"".join(storage.read_object(source["storage_key"]))
    except S3Error as exc:
        if exc.code == "NoSuchKey":
            raise JobFailure(
                "SOURCE_ASSET_NOT_FOUND", f"Source asset {source['asset_id']} has no object."
            ) from exc
        raise
