"""Peewee models mirroring the tables that `migrations.py` creates, and `execute` for the fixed
SQL of hot paths.

The migrations own the schema; these classes only name it for queries.
"""

from __future__ import annotations

import functools
from typing import Any

import peewee as pw


class BaseModel(pw.Model):
    class Meta:
        legacy_table_names = False


class Meta(BaseModel):
    """Small facts about this data dir, e.g. whether the demo seed was loaded."""

    key = pw.TextField(primary_key=True)
    value = pw.TextField()


class ApiKey(BaseModel):
    """Keys made by `ojin-local keys create`; only a SHA-256 of the key is kept."""

    key_id = pw.TextField(primary_key=True)
    key_hash = pw.TextField(unique=True)
    prefix = pw.TextField()
    organization_id = pw.TextField()
    user_id = pw.TextField()
    admin = pw.BooleanField(default=False)
    created_at = pw.TextField()
    revoked_at = pw.TextField(null=True)
    namespace_id = pw.TextField(null=True)  # a namespace's key: not access, test scaffolding


class Namespace(BaseModel):
    """Two organizations made for one test (POST /_ojin/namespaces), and their clock."""

    namespace_id = pw.TextField(primary_key=True)
    name = pw.TextField(null=True)
    organization_id = pw.TextField(unique=True)
    other_organization_id = pw.TextField(unique=True)
    clock_offset_seconds = pw.FloatField(default=0.0)
    created_at = pw.TextField()


class ModelVariant(BaseModel):
    model_variant_id = pw.TextField(primary_key=True)
    model_id = pw.TextField()
    title = pw.TextField()
    description = pw.JSONField()
    preview_media_url = pw.TextField(null=True)
    configuration_schema = pw.JSONField()
    tags = pw.JSONField()
    status = pw.TextField()
    created_at = pw.TextField()
    updated_at = pw.TextField()


class ModelConfig(BaseModel):
    model_config_id = pw.TextField(primary_key=True)
    organization_id = pw.TextField()
    model_id = pw.TextField()
    model_variant_id = pw.TextField()
    created_by = pw.TextField()
    title = pw.TextField()
    model_configurations = pw.JSONField()
    created_at = pw.TextField()
    updated_at = pw.TextField()


class ModelConfigReference(BaseModel):
    """An agent configuration's use of a model configuration; it blocks deleting the latter."""

    model_config_id = pw.TextField()
    agent_config_id = pw.TextField()
    created_at = pw.TextField()

    class Meta:
        primary_key = pw.CompositeKey("model_config_id", "agent_config_id")


class UploadSession(BaseModel):
    asset_id = pw.TextField(primary_key=True)
    upload_id = pw.TextField(unique=True)
    storage_key = pw.TextField()
    organization_id = pw.TextField()
    created_by = pw.TextField()
    name = pw.TextField()
    category = pw.TextField()
    content_type = pw.TextField()
    size_bytes = pw.IntegerField(null=True)
    status = pw.TextField(default="open")
    created_at = pw.TextField()


class Asset(BaseModel):
    asset_id = pw.TextField(primary_key=True)
    organization_id = pw.TextField()
    created_by = pw.TextField()
    name = pw.TextField()
    name_folded = pw.TextField()  # casefolded, for Unicode-aware case-insensitive search
    category = pw.TextField()
    content_type = pw.TextField()
    size_bytes = pw.IntegerField()
    etag = pw.TextField()
    storage_key = pw.TextField()
    created_at = pw.TextField()
    updated_at = pw.TextField()


class Job(BaseModel):
    job_id = pw.TextField(primary_key=True)
    organization_id = pw.TextField()
    created_by = pw.TextField()
    type = pw.TextField()
    status = pw.TextField()
    parameters = pw.JSONField()
    result = pw.JSONField(null=True)
    error = pw.JSONField(null=True)
    attempts = pw.IntegerField(default=0)
    worker = pw.TextField(null=True)  # host:pid:nonce of the consumer running it
    created_at = pw.TextField()
    started_at = pw.TextField(null=True)
    finished_at = pw.TextField(null=True)


ALL_MODELS: list[type[BaseModel]] = [
    Meta,
    ApiKey,
    Namespace,
    ModelVariant,
    ModelConfig,
    ModelConfigReference,
    UploadSession,
    Asset,
    Job,
]


def execute(sql: str, *params: Any) -> Any:
    """Run fixed SQL on the database the models are bound to; returns the cursor. Written once,
    with `?` for each parameter and no other `?` in it: Postgres's driver takes `%s` (and reads
    any `%` as the start of one), so the text is rewritten for it, once per statement."""
    return execute_on(Meta._meta.database, sql, *params)


def execute_on(database: pw.Database, sql: str, *params: Any) -> Any:
    """`execute` on another handle of the database (see `Database.unsynchronized`)."""
    return database.execute_sql(_in_dialect(sql, database.param), params)


@functools.cache
def _in_dialect(sql: str, param: str) -> str:
    return sql if param == "?" else sql.replace("%", "%%").replace("?", param)
