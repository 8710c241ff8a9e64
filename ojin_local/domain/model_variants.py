"""Model variants: a catalog shipped with the package, extended by the config, read-only over HTTP.

At start-up the catalog is written to the database (so configurations can reference variants and
snapshots carry them) and then held in memory: nothing changes it while the server runs, so
listing needs no query at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from importlib import resources
from typing import Any

from ojin_local import spec
from ojin_local.config import ModelVariantConfig
from ojin_local.db.models import ModelConfig, ModelVariant
from ojin_local.domain.clock import now_iso
from ojin_local.domain.common import Page, PageRequest
from ojin_local.errors import NotFound
from ojin_local.spec.validation import field_errors

PUBLIC_STATUS = "public"
# What a catalog entry gives: a variant's fields but those the server sets (readOnly).
CATALOG_FIELDS = tuple(
    name
    for name, field in spec.schema("ModelVariant")["properties"].items()
    if not field.get("readOnly")
)


def catalog_entries(extra: Iterable[ModelVariantConfig]) -> list[dict[str, Any]]:
    """The built-in catalog with the config's variants added (same id: the config wins)."""
    text = resources.files("ojin_local.data").joinpath("model_variants.json").read_text("utf-8")
    entries = {entry["model_variant_id"]: entry for entry in json.loads(text)}
    for variant in extra:
        entry = asdict(variant)
        entry["preview_media_url"] = entry["preview_media_url"] or None
        entries[entry["model_variant_id"]] = entry
    return [{name: entry.get(name) for name in CATALOG_FIELDS} for entry in entries.values()]


def sync_catalog(entries: list[dict[str, Any]]) -> None:
    """Make the table match the catalog; idempotent, run in a write transaction at start-up.

    A variant that left the catalog is removed unless a configuration still uses it.
    """
    now = now_iso()
    stored = {row["model_variant_id"]: row for row in ModelVariant.select().dicts()}
    for entry in entries:
        current = stored.pop(entry["model_variant_id"], None)
        if current is None:
            ModelVariant.insert({**entry, "created_at": now, "updated_at": now}).execute()
        elif any(current[name] != entry[name] for name in CATALOG_FIELDS):
            ModelVariant.update({**entry, "updated_at": now}).where(
                ModelVariant.model_variant_id == entry["model_variant_id"]
            ).execute()
    in_use = {row[0] for row in ModelConfig.select(ModelConfig.model_variant_id).tuples()}
    gone = [variant_id for variant_id in stored if variant_id not in in_use]
    if gone:
        ModelVariant.delete().where(ModelVariant.model_variant_id.in_(gone)).execute()


class VariantCatalog:
    """The variants as loaded at start-up, for queries."""

    def __init__(self, variants: list[dict[str, Any]]) -> None:
        self._variants = sorted(variants, key=lambda v: (v["model_id"], v["model_variant_id"]))
        self._by_id = {v["model_variant_id"]: v for v in self._variants}

    @classmethod
    def load(cls) -> VariantCatalog:
        return cls([dict(row) for row in ModelVariant.select().dicts()])

    def list(
        self,
        *,
        authenticated: bool,
        model_id: str | None,
        status: str | None,
        tags: list[str],
        page: PageRequest,
    ) -> Page:
        """Without a key only public variants are listed, whatever `status` asks for."""
        if not authenticated:
            status = PUBLIC_STATUS
        wanted_tags = set(tags)
        matches = [
            v
            for v in self._variants
            if (model_id is None or v["model_id"] == model_id)
            and (status is None or v["status"] == status)
            and wanted_tags.issubset(v["tags"])
        ]
        return Page(matches[page.offset : page.offset + page.limit], len(matches), page)

    def get(self, model_variant_id: str, *, authenticated: bool) -> dict[str, Any]:
        variant = self._by_id.get(model_variant_id)
        if variant is None or (not authenticated and variant["status"] != PUBLIC_STATUS):
            raise NotFound(
                f"Model variant {model_variant_id!r} was not found.",
                {"model_variant_id": model_variant_id},
            )
        return variant

    def configuration_errors(
        self, model_variant_id: str, configurations: dict[str, Any]
    ) -> list[dict[str, str]]:
        """How `configurations` breaks the variant's `configuration_schema`, as field errors."""
        from jsonschema import FormatChecker  # imported on first use, to start faster
        from jsonschema.validators import validator_for

        schema = self._by_id[model_variant_id]["configuration_schema"]
        validator = validator_for(schema)(schema, format_checker=FormatChecker())
        return field_errors(validator.iter_errors(configurations), "model_configurations")
