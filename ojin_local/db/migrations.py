"""Versioned schema migrations: one history for SQLite and Postgres.

Each migration is a list of SQL statements, applied once, in order, inside one transaction.
Migrations are written as SQL rather than derived from the models so that an old migration
keeps meaning what it meant when it shipped. Append, never edit.

Both dialects read the same statements, so both have one schema: same tables, columns, keys and
constraints. Where their SQL differs, a statement names the type by a `$NAME` of `TYPES` (on
SQLite each stands for the very text the migration shipped with), and a `Dialects` entry gives
each its own statements (triggers, functions). SQLite keeps the version in `PRAGMA
user_version`; Postgres, which has no such slot, in the one-row table `schema_version`, and
migrates under an advisory lock, so that processes starting together migrate once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from string import Template

import peewee as pw

SQLITE, POSTGRES = "sqlite", "postgres"

TYPES = {
    SQLITE: {
        "BOOLEAN": "INTEGER",
        "FALSE": "0",
        "BIGINT": "INTEGER",  # SQLite's integers are 64-bit
        "DOUBLE": "REAL",  # and its reals are doubles
        "JSON_IN_TEXT": "TEXT",  # the job's JSON columns were declared TEXT
        "WITHOUT_ROWID": " WITHOUT ROWID",
    },
    POSTGRES: {
        "BOOLEAN": "BOOLEAN",
        "FALSE": "false",
        "BIGINT": "BIGINT",
        "DOUBLE": "DOUBLE PRECISION",
        "JSON_IN_TEXT": "JSON",  # TEXT would read back as a string, not the document
        "WITHOUT_ROWID": "",
    },
}


@dataclass(frozen=True)
class Dialects:
    """Statements that differ between the dialects beyond a type's name."""

    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


MIGRATIONS: list[list[str | Dialects]] = [
    [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE api_key (
            key_id TEXT PRIMARY KEY,
            key_hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            organization_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            admin $BOOLEAN NOT NULL DEFAULT $FALSE,
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
        )$WITHOUT_ROWID""",
        Dialects(
            (
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
            ),
            (
                """CREATE FUNCTION model_config_count_change() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP IN ('DELETE', 'UPDATE') THEN
                        UPDATE model_config_count SET count = count - 1
                        WHERE organization_id = OLD.organization_id
                            AND model_variant_id = OLD.model_variant_id;
                    END IF;
                    IF TG_OP IN ('INSERT', 'UPDATE') THEN
                        INSERT INTO model_config_count
                        VALUES (NEW.organization_id, NEW.model_variant_id, 1)
                        ON CONFLICT (organization_id, model_variant_id)
                        DO UPDATE SET count = model_config_count.count + 1;
                    END IF;
                    RETURN NULL;
                END $$""",
                """CREATE TRIGGER model_config_counted AFTER INSERT OR DELETE
                OR UPDATE OF organization_id, model_variant_id ON model_config
                FOR EACH ROW EXECUTE FUNCTION model_config_count_change()""",
            ),
        ),
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
            size_bytes $BIGINT,
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
            size_bytes $BIGINT NOT NULL,
            etag TEXT NOT NULL,
            storage_key TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX asset_listing ON asset (organization_id, created_at, asset_id)",
        # The listing's name filter: a substring's position, instr() as SQLite names it.
        Dialects(
            (),
            (
                "CREATE FUNCTION instr(haystack TEXT, needle TEXT) RETURNS INTEGER"
                " LANGUAGE sql IMMUTABLE STRICT AS 'SELECT strpos(haystack, needle)'",
            ),
        ),
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
            parameters $JSON_IN_TEXT NOT NULL,
            result $JSON_IN_TEXT,
            error $JSON_IN_TEXT,
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
            clock_offset_seconds $DOUBLE NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        )""",
        "ALTER TABLE api_key ADD COLUMN namespace_id TEXT",
        "CREATE INDEX api_key_namespace ON api_key (namespace_id)",
    ],
    [
        # Fault rules, in the database so that every API process applies them (and counts a
        # rule's `times` once across all); `rule` holds the rest of the OjinFaultRule.
        """CREATE TABLE fault_rule (
            fault_id TEXT PRIMARY KEY,
            added $DOUBLE NOT NULL,
            namespace_id TEXT,
            times INTEGER,
            hits INTEGER NOT NULL DEFAULT 0,
            rule TEXT NOT NULL
        )""",
        # The request journal of several API processes (one process keeps its own in memory).
        Dialects(
            (
                """CREATE TABLE journal_entry (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                request_id TEXT NOT NULL,
                namespace_id TEXT,
                entry BLOB NOT NULL,
                request_body BLOB,
                response_body BLOB
            )""",
            ),
            (
                """CREATE TABLE journal_entry (
                seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                request_id TEXT NOT NULL,
                namespace_id TEXT,
                entry BYTEA NOT NULL,
                request_body BYTEA,
                response_body BYTEA
            )""",
            ),
        ),
        "CREATE INDEX journal_entry_request ON journal_entry (request_id)",
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
_MIGRATION_LOCK = 0x6F6A696E  # Postgres advisory lock key ("ojin"): one migrating process


class DatabaseUnusable(Exception):
    """The database cannot be opened; the message says which and why (no traceback needed)."""


class DatabaseTooNew(DatabaseUnusable):
    """The database was written by a newer ojin-local; running on it could corrupt it."""


def statements(version: int, dialect: str) -> Iterator[str]:
    """The statements of migration `version` (0-based) in `dialect`."""
    for entry in MIGRATIONS[version]:
        if isinstance(entry, Dialects):
            yield from getattr(entry, dialect)
        else:
            yield Template(entry).substitute(TYPES[dialect])


def dialect_of(db: pw.Database) -> str:
    return POSTGRES if isinstance(db, pw.PostgresqlDatabase) else SQLITE


def schema_version(db: pw.Database) -> int:
    if dialect_of(db) == SQLITE:
        return db.execute_sql("PRAGMA user_version").fetchone()[0]
    row = db.execute_sql(
        "SELECT version FROM schema_version"
        " WHERE to_regclass('schema_version') IS NOT NULL"  # never migrated: no table
    ).fetchone()
    return row[0] if row else 0


def migrate(db: pw.Database, where: str) -> int:
    """Bring the schema up to date; returns the number of migrations applied. `where` names
    the database for the message of a `DatabaseTooNew`."""
    dialect = dialect_of(db)
    with db.atomic():
        if dialect == POSTGRES:
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            db.execute_sql("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = schema_version(db)
        if current > SCHEMA_VERSION:
            raise DatabaseTooNew(
                f"the database {where} has schema version {current}, but this ojin-local "
                f"understands up to {SCHEMA_VERSION}: upgrade ojin-local or use another database"
            )
        for version in range(current, SCHEMA_VERSION):
            for statement in statements(version, dialect):
                db.execute_sql(statement)
        if dialect == SQLITE:
            db.execute_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif current < SCHEMA_VERSION:
            db.execute_sql("DELETE FROM schema_version")
            db.execute_sql("INSERT INTO schema_version VALUES (%s)", (SCHEMA_VERSION,))
    return SCHEMA_VERSION - current
