"""The demo seed, loaded on a data dir's first start into the template organization: portrait
image assets (drawn by `portraits.py`) and model configurations that use them.

Each part is loaded once rather than on every start, so that templates a user deletes stay
deleted. Objects are stored before the records that point at them, outside any transaction.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from importlib import resources
from typing import Any

from ojin_local.db import Database
from ojin_local.db.models import Meta, ModelConfig
from ojin_local.domain.assets import record_asset, storage_key
from ojin_local.domain.clock import now_iso
from ojin_local.domain.model_variants import VariantCatalog
from ojin_local.domain.portraits import portrait_png
from ojin_local.storage import Storage, StoredObject

CONFIGS_MARKER = "demo_seed_loaded_at"
ASSETS_MARKER = "demo_assets_loaded_at"
SEED_AUTHOR = "ojin-local-seed"
PORTRAIT_TYPE = "image/png"


def load_demo_seed(
    db: Database, storage: Storage, catalog: VariantCatalog, template_organization: str
) -> None:
    seed = _seed()
    if not _loaded(ASSETS_MARKER):
        stored = [(entry, _store_portrait(storage, entry)) for entry in seed["assets"]]
        db.write_sync(_record_assets, stored, template_organization)
    if not _loaded(CONFIGS_MARKER):
        db.write_sync(_record_configs, seed["model_configs"], catalog, template_organization)


def seed_object_keys() -> frozenset[str]:
    """The seed's objects: a reset keeps them rather than writing them again."""
    return frozenset(storage_key(entry["asset_id"]) for entry in _seed()["assets"])


@functools.cache
def _seed() -> dict[str, Any]:
    return json.loads(resources.files("ojin_local.data").joinpath("demo_seed.json").read_text())


def _store_portrait(storage: Storage, entry: dict[str, Any]) -> StoredObject:
    """Stored unless the same bytes are already there (after a reset)."""
    key, png = storage_key(entry["asset_id"]), portrait_png(entry["portrait"])
    existing = storage.head_object(key)
    etag = f'"{hashlib.md5(png, usedforsecurity=False).hexdigest()}"'
    if existing is not None and existing.etag == etag:
        return existing
    return storage.put_object(key, io.BytesIO(png), PORTRAIT_TYPE)


def _loaded(marker: str) -> bool:
    return Meta.select().where(Meta.key == marker).exists()


def _record_assets(stored: list[tuple[dict[str, Any], StoredObject]], organization: str) -> None:
    """Checked again in the transaction: another process on the database may have loaded it."""
    if _loaded(ASSETS_MARKER):
        return
    for entry, obj in stored:
        record_asset(entry["asset_id"], organization, SEED_AUTHOR, entry["name"], "image", obj)
    Meta.insert(key=ASSETS_MARKER, value=now_iso()).execute()


def _record_configs(
    configs: list[dict[str, Any]], catalog: VariantCatalog, organization: str
) -> None:
    if _loaded(CONFIGS_MARKER):
        return
    now = now_iso()
    for entry in configs:
        variant = catalog.get(entry["model_variant_id"], authenticated=True)
        ModelConfig.insert(
            {
                **entry,
                "organization_id": organization,
                "model_id": variant["model_id"],
                "created_by": SEED_AUTHOR,
                "created_at": now,
                "updated_at": now,
            }
        ).on_conflict_ignore().execute()
    Meta.insert(key=CONFIGS_MARKER, value=now).execute()
