"""The demo seed: template configurations loaded once, on a data dir's first start.

Loaded once rather than on every start, so that templates a user deletes stay deleted.
"""

from __future__ import annotations

import json
from importlib import resources

from ojin_local.db.models import Meta, ModelConfig
from ojin_local.domain.common import now_iso
from ojin_local.domain.model_variants import VariantCatalog

SEED_MARKER = "demo_seed_loaded_at"
SEED_AUTHOR = "ojin-local-seed"


def load_demo_seed(catalog: VariantCatalog, template_organization: str) -> bool:
    """Insert the seed's template configurations unless this data dir already had them."""
    if Meta.select().where(Meta.key == SEED_MARKER).exists():
        return False
    text = resources.files("ojin_local.data").joinpath("demo_seed.json").read_text("utf-8")
    now = now_iso()
    for entry in json.loads(text)["model_configs"]:
        variant = catalog.get(entry["model_variant_id"], authenticated=True)
        ModelConfig.insert(
            {
                **entry,
                "organization_id": template_organization,
                "model_id": variant["model_id"],
                "created_by": SEED_AUTHOR,
                "created_at": now,
                "updated_at": now,
            }
        ).on_conflict_ignore().execute()
    Meta.insert(key=SEED_MARKER, value=now).execute()
    return True
