"""Assets: multipart upload sessions, finalize, and the asset records they produce.

An upload runs like the real service's: initiate (an upload session, no record yet), sign a URL
per part (clients PUT parts straight to storage), finalize (complete the multipart upload, verify
the object, create the record). Storage calls can be slow (S3), so they never run inside a
database transaction: a finalize first claims its session (`open` -> `completing`), which makes a
concurrent finalize of the same upload a 409, then completes in storage, then records the asset.
"""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Callable
from typing import Any, TypeVar

from peewee import fn

from ojin_local import spec
from ojin_local.db import Database
from ojin_local.db.models import Asset, UploadSession
from ojin_local.domain.auth import Principal
from ojin_local.domain.clock import now_iso
from ojin_local.domain.common import Page, PageRequest, is_uuid, new_id
from ojin_local.errors import (
    Conflict,
    Forbidden,
    NotFound,
    S3Error,
    ServiceUnavailable,
    ValidationError,
    field_error,
)
from ojin_local.storage import Storage, StoredObject, multipart_etag
from ojin_local.storage.rules import check_part_order

KEY_PREFIX = "assets/"

ASSET_FIELDS = spec.fields("Asset")
PUBLIC_FIELDS = tuple(name for name in spec.fields("PublicAsset") if name != "asset_url")
"""The public form's fields kept from the record; `asset_url` is signed for each answer."""

T = TypeVar("T")


class Assets:
    def __init__(
        self,
        db: Database,
        storage: Storage,
        template_organization: str,
        presign_expires_seconds: int,
    ) -> None:
        self.db = db
        self.storage = storage
        self.template_organization = template_organization
        self.presign_expires = presign_expires_seconds

    # Upload

    async def initiate_upload(self, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
        name, category = data["name"], data["category"]
        content_type = data.get("content_type") or guess_content_type(name)
        asset_id = new_id()
        key = storage_key(asset_id)
        upload_id = await self._storage(self.storage.create_multipart_upload, key, content_type)
        session = {
            "asset_id": asset_id,
            "upload_id": upload_id,
            "storage_key": key,
            "organization_id": principal.organization_id,
            "created_by": principal.user_id,
            "name": name,
            "category": category,
            "content_type": content_type,
            "size_bytes": data.get("size_bytes"),
            "status": "open",
            "created_at": now_iso(),
        }
        await self.db.write(lambda: UploadSession.insert(session).execute())
        return {"asset_id": asset_id, "upload_id": upload_id, "s3_key": key}

    async def sign_part(self, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
        session = self._open_session(principal, data["asset_id"], data["upload_id"])
        if "s3_key" in data and data["s3_key"] != session["storage_key"]:
            raise ValidationError(
                "s3_key does not match this upload.",
                [field_error("s3_key", "must be the s3_key returned by initiate-upload")],
            )
        url = await self._storage(
            self.storage.presign_upload_part,
            session["storage_key"],
            session["upload_id"],
            data["part_number"],
            self.presign_expires,
        )
        return {"upload_url": url, "part_number": data["part_number"]}

    async def finalize(self, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
        session = await self.db.write(self._claim, principal, data)
        try:
            stored = await self._complete(session, data)
        except BaseException:
            await self.db.write(self._release, session["asset_id"])
            raise
        return await self.db.write(self._record, session, data, stored)

    def _claim(self, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
        session = self._find_session(principal, data["asset_id"], data["upload_id"])
        if session["status"] == "finalized":
            raise Conflict(
                f"Upload {data['upload_id']} was already finalized.",
                {"asset_id": data["asset_id"]},
            )
        if session["status"] == "completing":
            raise Conflict(
                f"Upload {data['upload_id']} is being finalized by another request.",
                {"asset_id": data["asset_id"]},
            )
        mismatched = [
            field_error(name, f"must be {session[name]!r}, as in initiate-upload")
            for name in ("name", "category")
            if data[name] != session[name]
        ]
        if mismatched:
            raise ValidationError("The finalize request does not match the upload.", mismatched)
        # Conditional, so exactly one finalize holds the session whatever the isolation.
        claimed = (
            UploadSession.update(status="completing")
            .where(
                (UploadSession.asset_id == session["asset_id"]) & (UploadSession.status == "open")
            )
            .execute()
        )
        if not claimed:
            raise Conflict(
                f"Upload {data['upload_id']} is being finalized by another request.",
                {"asset_id": data["asset_id"]},
            )
        return session

    def _release(self, asset_id: str) -> None:
        UploadSession.update(status="open").where(
            (UploadSession.asset_id == asset_id) & (UploadSession.status == "completing")
        ).execute()

    async def _complete(self, session: dict[str, Any], data: dict[str, Any]) -> StoredObject:
        """Complete in storage; S3's completion errors become 400 with the S3 code."""
        key, upload_id = session["storage_key"], session["upload_id"]
        listed = [(part["part_number"], part["etag"]) for part in data["parts"]]
        try:
            check_part_order(listed)  # before sizes: a part listed twice is not twice the bytes
        except S3Error as exc:
            raise completion_error(exc) from exc
        try:
            uploaded = {
                p.part_number: p
                for p in await self._storage_raw(self.storage.list_parts, key, upload_id)
            }
        except S3Error as exc:
            if exc.code != "NoSuchUpload":
                raise
            return await self._already_completed(key, listed, exc)
        sent = sum(uploaded[n].size for n, _ in listed if n in uploaded)
        if sent != data["size_bytes"]:
            raise ValidationError(
                f"size_bytes is {data['size_bytes']} but the listed parts hold {sent} bytes.",
                [field_error("size_bytes", f"must be {sent}, the size of the listed parts")],
            )
        try:
            return await self._storage_raw(
                self.storage.complete_multipart_upload, key, upload_id, listed
            )
        except S3Error as exc:
            raise completion_error(exc) from exc

    async def _already_completed(
        self, key: str, listed: list[tuple[int, str]], missing: S3Error
    ) -> StoredObject:
        """A finalize retried after storage completed but before the record was written (e.g. a
        crash in between): the object is there with exactly the ETag these parts produce."""
        stored = await self._storage(self.storage.head_object, key)
        try:
            expected = multipart_etag([bytes.fromhex(etag.strip('"')) for _, etag in listed])
        except ValueError:
            expected = None
        if stored is None or stored.etag != expected:
            raise completion_error(missing) from missing
        return stored

    def _record(
        self, session: dict[str, Any], data: dict[str, Any], stored: StoredObject
    ) -> dict[str, Any]:
        asset = record_asset(
            session["asset_id"],
            session["organization_id"],
            session["created_by"],
            session["name"],
            session["category"],
            stored,
            content_type=data["content_type"],
        )
        UploadSession.update(status="finalized").where(
            UploadSession.asset_id == session["asset_id"]
        ).execute()
        return asset

    # Reads

    def list(
        self,
        principal: Principal,
        *,
        source: str,
        category: str | None,
        name: str | None,
        page: PageRequest,
    ) -> Page:
        """Newest first; `name` is a case-insensitive, Unicode-aware substring, taken literally
        (instr, not LIKE: `%` and `_` are plain characters here)."""
        owner = self.template_organization if source == "template" else principal.organization_id
        query = Asset.select().where(Asset.organization_id == owner)
        if category is not None:
            query = query.where(Asset.category == category)
        if name:
            query = query.where(fn.instr(Asset.name_folded, fold(name)) > 0)
        rows = query.order_by(Asset.created_at.desc(), Asset.asset_id.desc())
        with self.db.snapshot():
            total = query.count()
            items = [
                _public(r, ASSET_FIELDS) for r in rows.limit(page.limit).offset(page.offset).dicts()
            ]
        return Page(items, total, page)

    def get(self, principal: Principal, asset_id: str) -> dict[str, Any]:
        return _public(self._visible(principal, asset_id), ASSET_FIELDS)

    async def download(self, principal: Principal, asset_id: str) -> dict[str, Any]:
        row = self._visible(principal, asset_id)
        return {**_public(row, ASSET_FIELDS), "asset_url": await self._download_url(row)}

    async def get_public(self, asset_id: str) -> dict[str, Any]:
        row = self._find(asset_id)
        return {**_public(row, PUBLIC_FIELDS), "asset_url": await self._download_url(row)}

    async def delete(self, principal: Principal, asset_id: str) -> None:
        """The record goes first, then the object: no record ever points at a missing object
        (an object left by a failure here is an orphan for `ojin-local gc`)."""
        row = await self.db.write(self._delete_record, principal, asset_id)
        await self._storage(self.storage.delete_object, row["storage_key"])

    def _delete_record(self, principal: Principal, asset_id: str) -> dict[str, Any]:
        row = self._visible(principal, asset_id)
        if row["organization_id"] != principal.organization_id:
            raise Forbidden(
                f"Asset {asset_id} is a template and is read-only.", {"asset_id": asset_id}
            )
        Asset.delete().where(Asset.asset_id == asset_id).execute()
        return row

    # Rules

    def _find(self, asset_id: str, *organizations: str) -> dict[str, Any]:
        query = Asset.select().where(Asset.asset_id == asset_id)
        if organizations:
            query = query.where(Asset.organization_id.in_(organizations))
        row = query.dicts().first()
        if row is None:
            raise NotFound(f"Asset {asset_id} was not found.", {"asset_id": asset_id})
        return row

    def _visible(self, principal: Principal, asset_id: str) -> dict[str, Any]:
        return self._find(asset_id, principal.organization_id, self.template_organization)

    def _find_session(self, principal: Principal, asset_id: str, upload_id: str) -> dict[str, Any]:
        row = (
            UploadSession.select()
            .where(
                (UploadSession.asset_id == asset_id)
                & (UploadSession.upload_id == upload_id)
                & (UploadSession.organization_id == principal.organization_id)
            )
            .dicts()
            .first()
        )
        if row is None:
            raise NotFound(
                f"No upload {upload_id} for asset {asset_id}.",
                {"asset_id": asset_id, "upload_id": upload_id},
            )
        return row

    def _open_session(self, principal: Principal, asset_id: str, upload_id: str) -> dict[str, Any]:
        session = self._find_session(principal, asset_id, upload_id)
        if session["status"] == "finalized":
            raise NotFound(
                f"Upload {upload_id} was finalized; it takes no more parts.",
                {"asset_id": asset_id, "upload_id": upload_id},
            )
        return session

    async def _download_url(self, row: dict[str, Any]) -> str:
        return await self._storage(
            self.storage.presign_get_object,
            row["storage_key"],
            row["name"],
            row["content_type"],
            self.presign_expires,
        )

    async def _storage(self, fn: Callable[..., T], *args: Any) -> T:
        """A storage call off the event loop; a storage failure is the service's, not the
        client's, so S3 errors other than those handled by the caller become 503."""
        try:
            return await self._storage_raw(fn, *args)
        except S3Error as exc:
            raise storage_unavailable(exc) from exc

    @staticmethod
    async def _storage_raw(fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)


def record_asset(
    asset_id: str,
    organization_id: str,
    created_by: str,
    name: str,
    category: str,
    stored: StoredObject,
    content_type: str | None = None,
) -> dict[str, Any]:
    """The record of an object already in storage (uploaded, seeded or generated); inside a
    write transaction. Returns the Asset as the API shows it."""
    now = now_iso()
    row = {
        "asset_id": asset_id,
        "organization_id": organization_id,
        "created_by": created_by,
        "name": name,
        "name_folded": fold(name),
        "category": category,
        "content_type": content_type or stored.content_type,
        "size_bytes": stored.size,
        "etag": stored.etag,
        "storage_key": stored.key,
        "created_at": now,
        "updated_at": now,
    }
    Asset.insert(row).execute()
    return _public(row, ASSET_FIELDS)


def reopen_interrupted_finalizes() -> None:
    """At start-up no finalize can be running: a session left `completing` was cut off by a
    crash, so it is open again and the client's retry can finish it."""
    UploadSession.update(status="open").where(UploadSession.status == "completing").execute()


def storage_key(asset_id: str) -> str:
    """Derived from the server's id, never from the client's file name."""
    return f"{KEY_PREFIX}{asset_id}"


def is_storage_key(key: str) -> bool:
    """Whether ojin-local made this key (a shared bucket may hold other objects)."""
    return key.startswith(KEY_PREFIX) and is_uuid(key.removeprefix(KEY_PREFIX))


def fold(text: str) -> str:
    return text.casefold()


def guess_content_type(name: str) -> str:
    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def completion_error(exc: S3Error) -> ValidationError:
    return ValidationError(
        f"Storage refused to complete the upload: {exc.code}: {exc.message}",
        [field_error("parts", exc.message)],
        s3_code=exc.code,
        **exc.details,
    )


def storage_unavailable(exc: S3Error) -> ServiceUnavailable:
    return ServiceUnavailable(f"Storage failed: {exc.code}: {exc.message}", {"s3_code": exc.code})


def _public(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: row[name] for name in fields}
