"""Everything a running appliance holds, opened once before the server starts.

The CLI opens these (so a bad database is reported before any port is bound) and hands them to
the app factory; handlers reach them as `request.app.ctx.services`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ojin_local.config import Config
from ojin_local.db import Database
from ojin_local.domain.assets import Assets, reopen_interrupted_finalizes
from ojin_local.domain.auth import KeyRing
from ojin_local.domain.model_configs import ModelConfigs
from ojin_local.domain.model_variants import VariantCatalog, catalog_entries, sync_catalog
from ojin_local.domain.seed import load_demo_seed
from ojin_local.spec import SchemaValidator
from ojin_local.spec.served import served_spec
from ojin_local.storage import Storage, open_storage


@dataclass
class Services:
    config: Config
    db: Database
    keys: KeyRing
    variants: VariantCatalog
    model_configs: ModelConfigs
    storage: Storage
    assets: Assets
    spec: dict[str, Any]

    def close(self) -> None:
        self.db.close()


def open_database(config: Config) -> Database:
    db = Database(config.data_path)
    try:
        db.open()
    except BaseException:
        db.close()
        raise
    return db


def open_services(config: Config) -> Services:
    """Open the data dir: migrate, load the variant catalog and, on first start, the demo seed."""
    entries = catalog_entries(config.model_variants)
    db = open_database(config)
    db.write_sync(sync_catalog, entries)
    variants = VariantCatalog.load()
    template = config.organizations.template
    storage = open_storage(config)
    load_demo_seed(db, storage, variants, template)
    spec = served_spec(config.server.public_url)
    schemas = SchemaValidator(spec)
    db.write_sync(reopen_interrupted_finalizes)
    return Services(
        config=config,
        db=db,
        keys=KeyRing(config.api_keys),
        variants=variants,
        model_configs=ModelConfigs(variants, template, schemas),
        storage=storage,
        assets=Assets(db, storage, template, schemas, config.storage.presign_expires_seconds),
        spec=spec,
    )
