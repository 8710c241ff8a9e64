"""Versioned schema migrations, tracked in SQLite's `PRAGMA user_version`.

Each migration is a list of SQL statements, applied once, in order, inside one transaction.
Migrations are written as SQL rather than derived from the models so that an old migration
keeps meaning what it meant when it shipped. Append, never edit.
"""

from __future__ import annotations

import peewee as pw

MIGRATIONS: list[list[str]] = [
    [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE api_key (
            key_id TEXT PRIMARY KEY,
            key_hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            organization_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            admin INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )""",
        """CREATE TABLE model_variant (
            model_variant_id TEXT PRIMARY KEY,
            model_id TEXT NOT NULL,
            title TEXT NOT NULL,
            description JSON NOT NULL DEFAULT '{}',
            preview_media_url TEXT,
            configuration_schema JSON NOT NULL DEFAULT '{}',
            tags JSON NOT NULL DEFAULT '[]',
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE model_config (
            model_config_id TEXT PRIMARY KEY,
            organization_id TEXT NOT NULL,
            model_id TEXT NOT NULL,
            model_variant_id TEXT NOT NULL REFERENCES model_variant (model_variant_id),
            created_by TEXT NOT NULL,
            title TEXT NOT NULL,
            model_configurations JSON NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (organization_id, title)
        )""",
        "CREATE INDEX model_config_listing ON model_config"
        " (organization_id, created_at, model_config_id)",
        "CREATE INDEX model_config_variant ON model_config (model_variant_id)",
        # Counted by triggers, so a page's total_items costs one lookup, not a scan of the org.
        """CREATE TABLE model_config_count (
            organization_id TEXT NOT NULL,
            model_variant_id TEXT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (organization_id, model_variant_id)
        ) WITHOUT ROWID""",
        """CREATE TRIGGER model_config_counted AFTER INSERT ON model_config BEGIN
            INSERT INTO model_config_count VALUES (NEW.organization_id, NEW.model_variant_id, 1)
            ON CONFLICT DO UPDATE SET count = count + 1;
        END""",
        """CREATE TRIGGER model_config_uncounted AFTER DELETE ON model_config BEGIN
            UPDATE model_config_count SET count = count - 1
            WHERE organization_id = OLD.organization_id AND model_variant_id = OLD.model_variant_id;
        END""",
        """CREATE TRIGGER model_config_recounted
            AFTER UPDATE OF organization_id, model_variant_id ON model_config BEGIN
            UPDATE model_config_count SET count = count - 1
            WHERE organization_id = OLD.organization_id AND model_variant_id = OLD.model_variant_id;
            INSERT INTO model_config_count VALUES (NEW.organization_id, NEW.model_variant_id, 1)
            ON CONFLICT DO UPDATE SET count = count + 1;
        END""",
        """CREATE TABLE model_config_reference (
            model_config_id TEXT NOT NULL
                REFERENCES model_config (model_config_id) ON DELETE CASCADE,
            agent_config_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (model_config_id, agent_config_id)
        )""",
    ],
    [
        # An upload session lives from initiate-upload until finalize; status moves
        # open -> completing (one finalize holds it) -> finalized, or back to open on failure.
        """CREATE TABLE upload_session (
            asset_id TEXT PRIMARY KEY,
            upload_id TEXT NOT NULL UNIQUE,
            storage_key TEXT NOT NULL,
            organization_id TEXT NOT NULL,
            created_by TEXT NOT NULL,
            name TEXT NOT NULL,
            category TEXT NOT NULL,
            content_type TEXT NOT NULL,
            size_bytes INTEGER,
            status TEXT NOT NULL DEFAULT 'open',
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX upload_session_age ON upload_session (status, created_at)",
        """CREATE TABLE asset (
            asset_id TEXT PRIMARY KEY,
            organization_id TEXT NOT NULL,
            created_by TEXT NOT NULL,
            name TEXT NOT NULL,
            name_folded TEXT NOT NULL,
            category TEXT NOT NULL,
            content_type TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            etag TEXT NOT NULL,
            storage_key TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX asset_listing ON asset (organization_id, created_at, asset_id)",
    ],
    [
        # A background job; the queue (Huey) only carries job ids, this table is the truth.
        # status: queued -> running -> succeeded | failed, or running -> queued for a retry.
        """CREATE TABLE job (
            job_id TEXT PRIMARY KEY,
            organization_id TEXT NOT NULL,
            created_by TEXT NOT NULL,
            type TEXT NOT NULL,
            status TEXT NOT NULL,
            parameters TEXT NOT NULL,
            result TEXT,
            error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            worker TEXT,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT
        )""",
        "CREATE INDEX job_listing ON job (organization_id, created_at, job_id)",
        "CREATE INDEX job_status ON job (status)",
    ],
    [  # namespaces: two organizations for one test, with a clock of their own
        """CREATE TABLE namespace (
            namespace_id TEXT PRIMARY KEY,
            name TEXT,
            organization_id TEXT NOT NULL UNIQUE,
            other_organization_id TEXT NOT NULL UNIQUE,
            clock_offset_seconds REAL NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        )""",
        "ALTER TABLE api_key ADD COLUMN namespace_id TEXT",
        "CREATE INDEX api_key_namespace ON api_key (namespace_id)",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)


class DatabaseTooNew(Exception):
    """The data dir was written by a newer ojin-local; running on it could corrupt it."""


def schema_version(db: pw.SqliteDatabase) -> int:
    return db.execute_sql("PRAGMA user_version").fetchone()[0]


def migrate(db: pw.SqliteDatabase, path: str) -> int:
    """Bring the schema up to date; returns the number of migrations applied."""
    with db.atomic():
        current = schema_version(db)
        if current > SCHEMA_VERSION:
            raise DatabaseTooNew(
                f"the database {path} has schema version {current}, but this ojin-local "
                f"understands up to {SCHEMA_VERSION}: upgrade ojin-local or use another --data-dir"
            )
        for version in range(current, SCHEMA_VERSION):
            for statement in MIGRATIONS[version]:
                db.execute_sql(statement)
        db.execute_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return SCHEMA_VERSION - current
