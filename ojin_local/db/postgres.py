"""Postgres as the database (`[database] url = "postgresql://..."`), for instances that several
processes share. Same interface as SQLite's (`database.Database`), same rules, kept across
processes by Postgres itself rather than by one writer thread:

- Every write transaction is SERIALIZABLE: Postgres lets it commit only if the outcome is one
  some serial order of the transactions would give, the order SQLite's single writer imposes.
  What would break that is aborted (SQLSTATE 40001, 40P01 for a deadlock, see `RETRY`), and the
  whole write is run again, a bounded number of times; the rules that matter most also hold by
  themselves (constraints and conditional updates, see domain/).
- Connections come from a pool (playhouse.pool); several writer threads share it, so one slow
  transaction does not hold up the others.
- No read cache: SQLite's `data_version` has no Postgres counterpart that is cheaper than the
  read it would save, and a cache told of commits later (LISTEN/NOTIFY) could answer a page
  older than one another process already acknowledged.
- Snapshots (`state export`/`import`) stay SQLite files: rows are copied between the two.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit

import peewee as pw
from playhouse.pool import PooledPostgresqlDatabase

from ojin_local.config import mask_url
from ojin_local.db.database import Database
from ojin_local.db.migrations import POSTGRES, SQLITE, DatabaseUnusable, migrate
from ojin_local.db.models import ALL_MODELS

log = logging.getLogger("ojin_local.db")

P = ParamSpec("P")
T = TypeVar("T")

WRITERS = 4
# Writes to one organization's configurations all touch one count row (and one index page), so
# under load they abort one another: eight writers (two processes, 32 clients, one organization,
# the machine busy) ran out of twelve attempts on 1 write in 600. Random backoff, growing to
# BACKOFF_CAP, spreads them out as Ethernet does; 30 attempts wait at most ~1.3 s in all.
MAX_ATTEMPTS = 30
BACKOFF_CAP = 0.05
# What Postgres's manual (13.5, Serialization Failure Handling) advises to retry. A unique
# violation is among them because a key inserted after reading that it was free can collide with
# one a concurrent transaction inserted, which Postgres cannot tell from a plain violation (two
# processes loading the demo seed at once did). ojin-local never relies on a violation to reject
# a request: every rule is checked by reading first, so a violation is always such a race, and the
# run again reads the row that won.
RETRY = {"40001": "serialization failure", "40P01": "deadlock", "23505": "unique violation"}
STALE_SECONDS = 300  # a pooled connection idle this long is closed rather than reused


def give_peewee_psycopg() -> None:
    """peewee imports a Postgres driver when it is itself imported, whether used or not: ~150 ms
    of every start, half of it. The command keeps it from doing so (ojin_local/entry.py); this
    hands psycopg 3 over as peewee's own import would have, when a database URL needs it."""
    if pw.psycopg is not None:
        return
    if sys.modules.get("psycopg", False) is None:
        del sys.modules["psycopg"]
    import psycopg
    from psycopg.pq import TransactionStatus
    from psycopg.types.json import Json, Jsonb

    pw.psycopg, pw.TransactionStatus, pw.Json_pg3, pw.Jsonb_pg3 = (
        psycopg,
        TransactionStatus,
        Json,
        Jsonb,
    )
    adapter = pw.Psycopg3Adapter
    adapter.txn_idle = TransactionStatus.IDLE
    adapter.txn_inerror = TransactionStatus.INERROR
    adapter.txn_unknown = TransactionStatus.UNKNOWN


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error, which peewee wraps in its own exception (as `orig`)."""
    return getattr(getattr(exc, "orig", exc), "sqlstate", None)


class PostgresDatabase(Database):
    dialect = POSTGRES

    def __init__(self, url: str) -> None:
        super().__init__(writers=WRITERS)
        give_peewee_psycopg()
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(scheme="postgresql"))  # libpq reads both; peewee one
        self.where = {"url": mask_url(url)}
        self._url = url
        self._unsynchronized: PooledPostgresqlDatabase | None = None
        # No cap: a connection is held by each thread that reads (the event loop, job workers,
        # threads of blocking calls) and lent to each write; Postgres's max_connections bounds.
        self.peewee = PooledPostgresqlDatabase(
            url, max_connections=None, stale_timeout=STALE_SECONDS, prefer_psycopg3=True
        )

    def _in_transaction(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run whole again while Postgres asks for it; a connection from the pool each time."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with (
                    self.peewee.connection_context(),
                    self.peewee.atomic(isolation_level="SERIALIZABLE"),
                ):
                    return fn(*args, **kwargs)
            except pw.DatabaseError as exc:
                reason = RETRY.get(sqlstate(exc) or "")
                if reason is None or attempt == MAX_ATTEMPTS:
                    raise
                log.debug("write %s: %s, attempt %d; retrying", fn, reason, attempt)
                time.sleep(random.uniform(0, min(BACKOFF_CAP, 0.001 * 2**attempt)))
        raise AssertionError("unreachable")

    def snapshot(self) -> AbstractContextManager[object]:
        """REPEATABLE READ: one snapshot for every statement (READ COMMITTED takes one per
        statement); READ ONLY, so it never conflicts with a writer."""
        return self.peewee.atomic(isolation_level="REPEATABLE READ READ ONLY")

    def cached_read(self, key: Hashable, read: Callable[[], T]) -> T:
        """Never cached: see the module's docstring."""
        return read()

    def _migrate(self) -> int:
        """An unreachable or refusing server is one line for the command, not a traceback."""
        try:
            with self.peewee.connection_context():
                return super()._migrate()
        except (pw.OperationalError, pw.InterfaceError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatabaseUnusable(f"cannot use the database {self.describe()}: {reason}") from exc

    def backup_to(self, path: Path) -> None:
        """A fresh SQLite file of this schema, filled from one snapshot of every table (its
        triggers count the configurations)."""
        copy = pw.SqliteDatabase(str(path))
        try:
            migrate(copy, str(path))
            with self.snapshot(), copy.atomic():
                for table in TABLES:
                    rows = self.peewee.execute_sql(table.select(POSTGRES)).fetchall()
                    copy.cursor().executemany(table.insert("?"), rows)
        finally:
            copy.close()

    def restore_from(self, path: Path) -> int:
        """Rows replaced in one write transaction: readers see the old rows until it commits,
        then the new ones (no TRUNCATE, whose lock would stop them)."""
        copy = pw.SqliteDatabase(str(path))
        try:
            applied = migrate(copy, str(path))
            contents = [
                (table, copy.execute_sql(table.select(SQLITE)).fetchall()) for table in TABLES
            ]
        finally:
            copy.close()

        def replace() -> None:
            for table, _ in reversed(contents):
                self.peewee.execute_sql(f"DELETE FROM {table.name}")
            self.peewee.execute_sql("DELETE FROM model_config_count")  # the trigger recounts
            cursor = self.peewee.cursor()
            for table, rows in contents:
                if rows:
                    cursor.executemany(table.insert("%s"), [table.to_postgres(r) for r in rows])

        self.write_sync(replace)
        return applied

    def unsynchronized(self) -> pw.Database:
        """A pool of its own, each connection with `synchronous_commit = off`: a commit returns
        before its WAL is flushed (and a crash may lose the last ones)."""
        if self._unsynchronized is None:
            self._unsynchronized = PooledPostgresqlDatabase(
                self._url,
                max_connections=None,
                stale_timeout=STALE_SECONDS,
                prefer_psycopg3=True,
                options="-c synchronous_commit=off",
            )
        return self._unsynchronized

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self.peewee.close_all()
        if self._unsynchronized is not None:
            self._unsynchronized.close_all()


class _Table:
    """A table as the snapshot copy moves it: its columns, JSON ones as text on both sides and
    booleans as Python's (SQLite keeps 0 and 1)."""

    def __init__(self, model: type[pw.Model]) -> None:
        fields = model._meta.sorted_fields
        self.name = model._meta.table_name
        self.columns = [field.column_name for field in fields]
        self.json = {i for i, field in enumerate(fields) if isinstance(field, pw.JSONField)}
        self.booleans = {i for i, f in enumerate(fields) if isinstance(f, pw.BooleanField)}

    def select(self, dialect: str) -> str:
        columns = (
            f"CAST({name} AS TEXT)" if i in self.json and dialect == POSTGRES else name
            for i, name in enumerate(self.columns)
        )
        return f"SELECT {', '.join(columns)} FROM {self.name}"

    def insert(self, placeholder: str) -> str:
        values = (
            f"CAST({placeholder} AS JSON)" if i in self.json and placeholder != "?" else placeholder
            for i in range(len(self.columns))
        )
        return f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES ({', '.join(values)})"

    def to_postgres(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(
            bool(value) if i in self.booleans and value is not None else value
            for i, value in enumerate(row)
        )


TABLES = [_Table(model) for model in ALL_MODELS]  # in an order foreign keys allow
