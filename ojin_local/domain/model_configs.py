"""Model configurations: an organization's settings for one model variant.

An organization sees its own configurations and the template organization's; it may change only
its own. Another organization's configuration is answered as not found, never as forbidden, so its
existence does not leak. Bodies arrive checked against the spec (`http.edge`); what no schema can
say (a variant's `configuration_schema`) is checked here, before the write transaction. Writes
run inside one write transaction (see `Database.write`), so their checks (title free, still
there, still ours) and their writes cannot interleave with another request's, in this process
or another; the title's uniqueness is also the table's constraint.
"""

from __future__ import annotations

from typing import Any

import orjson

from ojin_local import spec
from ojin_local.db import Database
from ojin_local.db.models import ModelConfig, ModelConfigReference, execute
from ojin_local.domain.auth import Principal
from ojin_local.domain.clock import now_iso
from ojin_local.domain.common import Page, PageRequest, new_id
from ojin_local.domain.model_variants import VariantCatalog
from ojin_local.errors import Conflict, Forbidden, NotFound, ValidationError

PUBLIC_FIELDS = spec.fields("PublicModelConfig")
# The list is the hot path: fixed SQL, cost ~40 us a page, against ~850 us when Peewee built the
# query and hydrated the rows. The stored configurations (JSON text this server wrote) go into
# the answer as they are, never decoded and encoded again (read as text: Postgres's driver would
# decode its JSON type).
_FIELDS = spec.fields("ModelConfig")
_COLUMNS = ", ".join(
    f"CAST({name} AS TEXT)" if name == "model_configurations" else name for name in _FIELDS
)


def _row(values: tuple[Any, ...]) -> dict[str, Any]:
    row = dict(zip(_FIELDS, values, strict=True))
    row["model_configurations"] = orjson.Fragment(row["model_configurations"])
    return row


class ModelConfigs:
    def __init__(self, db: Database, catalog: VariantCatalog, template_organization: str) -> None:
        self.db = db
        self.catalog = catalog
        self.template_organization = template_organization

    # Reads

    def list(
        self, principal: Principal, *, source: str, model_variant_id: str | None, page: PageRequest
    ) -> Page:
        owner = self.template_organization if source == "template" else principal.organization_id
        where, params = "organization_id = ?", [owner]
        if model_variant_id is not None:
            where, params = where + " AND model_variant_id = ?", [owner, model_variant_id]
        return self.db.cached_read(
            ("model_configs", where, *params, page), lambda: self._page(where, params, page)
        )

    def _page(self, where: str, params: list[str], page: PageRequest) -> Page:
        """One statement carries the count beside each row: it sees one state of the database,
        so the page and its total agree without a transaction around two statements."""
        count = f"SELECT coalesce(sum(count), 0) FROM model_config_count WHERE {where}"
        rows = execute(
            f"SELECT ({count}), {_COLUMNS} FROM model_config WHERE {where}"
            " ORDER BY created_at, model_config_id LIMIT ? OFFSET ?",
            *params,
            *params,
            page.limit,
            page.offset,
        ).fetchall()
        if not rows:  # past the end: the count alone
            return Page([], execute(count, *params).fetchone()[0], page)
        return Page([_row(values[1:]) for values in rows], rows[0][0], page)

    def get(self, principal: Principal, model_config_id: str) -> dict[str, Any]:
        return self._visible(principal, model_config_id)

    def get_public(self, model_config_id: str) -> dict[str, Any]:
        """Any organization's configuration, by UUID alone, without its internal fields."""
        row = self._find(model_config_id)
        return {name: row[name] for name in PUBLIC_FIELDS}

    # Writes

    async def create(self, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
        variant = self.catalog.get(data["model_variant_id"], authenticated=True)
        self._check_configurations(variant["model_variant_id"], data["model_configurations"])
        return await self.db.write(self._insert, principal, variant, data)

    def _insert(
        self, principal: Principal, variant: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        self._check_title_free(principal.organization_id, data["title"])
        now = now_iso()
        row = {
            "model_config_id": new_id(),
            "organization_id": principal.organization_id,
            "model_id": variant["model_id"],
            "model_variant_id": variant["model_variant_id"],
            "created_by": principal.user_id,
            "title": data["title"],
            "model_configurations": data["model_configurations"],
            "created_at": now,
            "updated_at": now,
        }
        ModelConfig.insert(row).execute()
        return row

    async def update(
        self, principal: Principal, model_config_id: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        """The variant of a configuration never changes, so its configurations are checked
        against it before the transaction (which checks again that the row is still ours)."""
        variant_id = self._writable(principal, model_config_id)["model_variant_id"]
        self._check_configurations(variant_id, data["model_configurations"])
        return await self.db.write(self._update, principal, model_config_id, data)

    def _update(
        self, principal: Principal, model_config_id: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        row = self._writable(principal, model_config_id)
        self._check_title_free(principal.organization_id, data["title"], model_config_id)
        row.update(
            title=data["title"],
            model_configurations=data["model_configurations"],
            updated_at=now_iso(),
        )
        ModelConfig.update(
            title=row["title"],
            model_configurations=row["model_configurations"],
            updated_at=row["updated_at"],
        ).where(ModelConfig.model_config_id == model_config_id).execute()
        return row

    async def delete(
        self, principal: Principal, model_config_id: str, referenced_by: str | None
    ) -> None:
        await self.db.write(self._delete, principal, model_config_id, referenced_by)

    def _delete(
        self, principal: Principal, model_config_id: str, referenced_by: str | None
    ) -> None:
        """Refused while an agent configuration other than `referenced_by` still uses it."""
        self._writable(principal, model_config_id)
        blocking = [
            ref["agent_config_id"]
            for ref in self.list_references(model_config_id)
            if ref["agent_config_id"] != referenced_by
        ]
        if blocking:
            raise Conflict(
                f"Model configuration {model_config_id} is referenced by "
                f"{len(blocking)} agent configuration(s); remove those references first.",
                {"model_config_id": model_config_id, "referenced_by": blocking},
            )
        ModelConfigReference.delete().where(
            ModelConfigReference.model_config_id == model_config_id
        ).execute()
        ModelConfig.delete().where(ModelConfig.model_config_id == model_config_id).execute()

    # References from agent configurations (admin routes)

    def list_references(self, model_config_id: str) -> list[dict[str, Any]]:
        self._find(model_config_id)
        query = (
            ModelConfigReference.select()
            .where(ModelConfigReference.model_config_id == model_config_id)
            .order_by(ModelConfigReference.created_at, ModelConfigReference.agent_config_id)
        )
        return list(query.dicts())

    def add_reference(self, model_config_id: str, agent_config_id: str | None) -> dict[str, Any]:
        """Records `agent_config_id` (a new one when None) as using the configuration."""
        self._find(model_config_id)
        agent_config_id = agent_config_id or new_id()
        exists = ModelConfigReference.select().where(
            (ModelConfigReference.model_config_id == model_config_id)
            & (ModelConfigReference.agent_config_id == agent_config_id)
        )
        if exists.exists():
            raise Conflict(
                f"Agent configuration {agent_config_id} already references {model_config_id}.",
                {"model_config_id": model_config_id, "agent_config_id": agent_config_id},
            )
        row = {
            "model_config_id": model_config_id,
            "agent_config_id": agent_config_id,
            "created_at": now_iso(),
        }
        ModelConfigReference.insert(row).execute()
        return row

    def remove_reference(self, model_config_id: str, agent_config_id: str) -> None:
        self._find(model_config_id)
        removed = (
            ModelConfigReference.delete()
            .where(
                (ModelConfigReference.model_config_id == model_config_id)
                & (ModelConfigReference.agent_config_id == agent_config_id)
            )
            .execute()
        )
        if not removed:
            raise NotFound(
                f"Agent configuration {agent_config_id} does not reference {model_config_id}.",
                {"model_config_id": model_config_id, "agent_config_id": agent_config_id},
            )

    # Rules

    def _find(self, model_config_id: str, *organizations: str) -> dict[str, Any]:
        query = ModelConfig.select().where(ModelConfig.model_config_id == model_config_id)
        if organizations:
            query = query.where(ModelConfig.organization_id.in_(organizations))
        row = query.dicts().first()
        if row is None:
            raise NotFound(
                f"Model configuration {model_config_id} was not found.",
                {"model_config_id": model_config_id},
            )
        return row

    def _visible(self, principal: Principal, model_config_id: str) -> dict[str, Any]:
        return self._find(model_config_id, principal.organization_id, self.template_organization)

    def _writable(self, principal: Principal, model_config_id: str) -> dict[str, Any]:
        row = self._visible(principal, model_config_id)
        if row["organization_id"] != principal.organization_id:
            raise Forbidden(
                f"Model configuration {model_config_id} is a template and is read-only.",
                {"model_config_id": model_config_id},
            )
        return row

    def _check_configurations(self, model_variant_id: str, configurations: dict[str, Any]) -> None:
        errors = self.catalog.configuration_errors(model_variant_id, configurations)
        if errors:
            raise ValidationError(
                f"model_configurations does not match the configuration_schema of "
                f"{model_variant_id}.",
                errors,
            )

    def _check_title_free(
        self, organization_id: str, title: str, own_id: str | None = None
    ) -> None:
        query = ModelConfig.select(ModelConfig.model_config_id).where(
            (ModelConfig.organization_id == organization_id) & (ModelConfig.title == title)
        )
        clash = query.scalar()
        if clash is not None and clash != own_id:
            raise Conflict(
                f"A model configuration titled {title!r} already exists in this organization.",
                {"title": title, "model_config_id": clash},
            )
