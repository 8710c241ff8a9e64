"""The demo seed, loaded on a data dir's first start into the template organization: portrait
image assets (drawn by `portraits.py`) and model configurations that use them.

Each part is loaded once rather than on every start, so that templates a user deletes stay
deleted. Objects are stored before the records that point at them, outside any transaction.
"""

from __future__ import annotations

import io
import json
from importlib import resources
from typing import Any

from ojin_local.db import Database
from ojin_local.db.models import Meta, ModelConfig
from ojin_local.domain.assets import record_asset, storage_key
from ojin_local.domain.common import now_iso
from ojin_local.domain.model_variants import VariantCatalog
from ojin_local.domain.portraits import portrait_png
from ojin_local.storage import Storage, StoredObject

CONFIGS_MARKER = "demo_seed_loaded_at"
ASSETS_MARKER = "demo_assets_loaded_at"
SEED_AUTHOR = "ojin-local-seed"


def load_demo_seed(
    db: Database, storage: Storage, catalog: VariantCatalog, template_organization: str
) -> None:
    seed = json.loads(resources.files("ojin_local.data").joinpath("demo_seed.json").read_text())
    if not _loaded(ASSETS_MARKER):
        stored = [
            (
                entry,
                storage.put_object(
                    storage_key(entry["asset_id"]),
                    io.BytesIO(portrait_png(entry["portrait"])),
                    "image/png",
                ),
            )
            for entry in seed["assets"]
        ]
        db.write_sync(_record_assets, stored, template_organization)
    if not _loaded(CONFIGS_MARKER):
        db.write_sync(_record_configs, seed["model_configs"], catalog, template_organization)


def _loaded(marker: str) -> bool:
    return Meta.select().where(Meta.key == marker).exists()


def _record_assets(stored: list[tuple[dict[str, Any], StoredObject]], organization: str) -> None:
    for entry, obj in stored:
        record_asset(entry["asset_id"], organization, SEED_AUTHOR, entry["name"], "image", obj)
    Meta.insert(key=ASSETS_MARKER, value=now_iso()).execute()


def _record_configs(
    configs: list[dict[str, Any]], catalog: VariantCatalog, organization: str
) -> None:
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
