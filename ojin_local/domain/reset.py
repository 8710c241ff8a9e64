"""Back to the seed state (POST /_ojin/reset): what a test suite calls between tests.

Everything the API can create goes: model configurations and their references, upload sessions,
assets and their objects, jobs and their queue; then the demo seed is loaded again. API keys
stay (they are access, not data), and so does the variant catalog (it comes from the config).
"""

from __future__ import annotations

from ojin_local.db import Database
from ojin_local.db.models import (
    Asset,
    Job,
    Meta,
    ModelConfig,
    ModelConfigReference,
    UploadSession,
)
from ojin_local.domain.assets import KEY_PREFIX
from ojin_local.domain.jobs import Queue
from ojin_local.domain.model_variants import VariantCatalog
from ojin_local.domain.seed import (
    ASSETS_MARKER,
    CONFIGS_MARKER,
    load_demo_seed,
    seed_object_keys,
)
from ojin_local.storage import Storage


def reset_state(
    db: Database, storage: Storage, queue: Queue, catalog: VariantCatalog, template: str
) -> None:
    """Blocking. The queue is emptied first, so no job starts on records about to vanish."""
    queue.clear()
    db.write_sync(_clear_records)
    storage.clear(KEY_PREFIX, keep=seed_object_keys())
    load_demo_seed(db, storage, catalog, template)


def _clear_records() -> None:
    for model in (ModelConfigReference, ModelConfig, UploadSession, Asset, Job):
        model.delete().execute()
    Meta.delete().where(Meta.key.in_((ASSETS_MARKER, CONFIGS_MARKER))).execute()
