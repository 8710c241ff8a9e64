"""The database of a running appliance, and how the server talks to it: one interface, two
dialects (SQLite here, Postgres in `postgres.py`).

Reads run inline, on whatever thread asks (the event loop for most): a 20-row select costs less
than a hop to another thread, and neither dialect makes a reader wait for a writer. Writes are
functions handed to `write`/`write_sync`, run on the database's writer threads inside one
transaction each, so the event loop never blocks on a lock and every rule a write checks holds
when it commits.

SQLite: one writer thread, every transaction `BEGIN IMMEDIATE`, so read-then-write sequences
never fail with "database is locked" (a plain BEGIN did, 290 times in 400, in
../shared/notes/stack-findings.md) and writes run in one order, across processes too (SQLite's
file lock). That is the shape Datasette uses.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import peewee as pw

from ojin_local.db.migrations import (
    SQLITE,
    DatabaseTooNew,
    DatabaseUnusable,
    migrate,
    schema_version,
)
from ojin_local.db.models import ALL_MODELS

if TYPE_CHECKING:
    from ojin_local.config import Config

__all__ = ["Database", "DatabaseTooNew", "DatabaseUnusable", "open_database"]

FILENAME = "ojin-local.sqlite3"
SQLITE_URL_PREFIX = "sqlite:///"
BUSY_TIMEOUT_MS = 10_000
READ_CACHE_ENTRIES = 256  # pages kept by cached_read, per reading thread

P = ParamSpec("P")
T = TypeVar("T")


def open_database(config: Config) -> Database:
    """The database `[database] url` names (config.py checked its form), created or migrated;
    closed again if that fails."""
    url = config.database.url
    if url and not url.startswith(SQLITE_URL_PREFIX):
        from ojin_local.db.postgres import PostgresDatabase  # psycopg: ~150 ms, Postgres only

        db: Database = PostgresDatabase(url)
    else:
        path = Path(url.removeprefix(SQLITE_URL_PREFIX)) if url else config.data_path / FILENAME
        db = SqliteDatabase(path)
    try:
        db.open()
    except BaseException:
        db.close()
        raise
    return db


class Database:
    """What the rest of the code needs of a database, whatever its dialect."""

    dialect: str
    peewee: pw.Database
    where: dict[str, str]
    """Where it is, for health and the banner (a path, or a URL without its password)."""

    def __init__(self, writers: int) -> None:
        self._writer = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="db-writer")

    def open(self) -> int:
        """Create or migrate the schema and bind the models; returns migrations applied."""
        self.peewee.bind(ALL_MODELS)
        return self._writer.submit(self._migrate).result()

    def _migrate(self) -> int:
        return migrate(self.peewee, self.describe())

    def describe(self) -> str:
        return next(iter(self.where.values()))

    @property
    def schema_version(self) -> int:
        return schema_version(self.peewee)

    def write_sync(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` in one write transaction on a writer thread and wait for it."""
        context = contextvars.copy_context()  # e.g. the clock the caller reads (domain.clock)
        return self._writer.submit(context.run, self._in_transaction, fn, *args, **kwargs).result()

    async def write(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` in one write transaction on a writer thread without blocking the loop."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()  # e.g. the clock the caller reads (domain.clock)
        call = functools.partial(context.run, self._in_transaction, fn, *args, **kwargs)
        return await loop.run_in_executor(self._writer, call)

    def _in_transaction(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        raise NotImplementedError

    def snapshot(self) -> AbstractContextManager[object]:
        """A read-only transaction in which every statement sees one state of the database. A
        list's count and its page must come from one: read apart, a row committed in between
        made a page longer than its total_items said."""
        raise NotImplementedError

    def cached_read(self, key: Hashable, read: Callable[[], T]) -> T:
        """`read()`'s result, or one kept from an earlier call only where it cannot be older
        than a fresh read."""
        raise NotImplementedError

    def backup_to(self, path: Path) -> None:
        """A consistent copy of the whole database, as a SQLite file at `path` (the snapshot's
        format, whatever the dialect), while the server runs."""
        raise NotImplementedError

    def unsynchronized(self) -> pw.Database:
        """Another handle on this database, in autocommit, whose commits do not wait to be
        durable: for what is a diagnostic, not data (the journal of several API processes, which
        need Postgres; one process keeps its journal in memory)."""
        raise NotImplementedError

    def restore_from(self, path: Path) -> int:
        """Replace the whole database with a SQLite copy (a `backup_to` file), in one step
        readers see whole, migrated to this schema. Returns migrations applied."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SqliteDatabase(Database):
    dialect = SQLITE

    def __init__(self, path: Path) -> None:
        super().__init__(writers=1)
        self.path = path
        self.where = {"path": str(path)}
        self.peewee = pw.SqliteDatabase(
            str(self.path),
            pragmas={  # journal_mode is the file's, set once by open()
                "foreign_keys": 1,
                "busy_timeout": BUSY_TIMEOUT_MS,
                "synchronous": "normal",
            },
            lock_type="IMMEDIATE",
        )
        self._reads = threading.local()  # cached_read's results, per reading thread

    def open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._use_wal()
        return super().open()

    def _use_wal(self) -> None:
        """WAL is kept in the file. Switching a new file to it while another process does the
        same fails with "database is locked" at once, without waiting out the busy timeout
        (111 of 300 two-process starts here), so the switch is tried again until then."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                with closing(sqlite3.connect(self.path)) as connection:
                    connection.execute("PRAGMA journal_mode = wal")
                    return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
            time.sleep(0.005)

    def _in_transaction(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        with self.peewee.atomic():
            return fn(*args, **kwargs)

    def snapshot(self) -> AbstractContextManager[object]:
        """DEFERRED: it takes no lock, and in WAL mode never waits for the writer."""
        return self.peewee.atomic(lock_type="DEFERRED")

    def cached_read(self, key: Hashable, read: Callable[[], T]) -> T:
        """Every write commits on the writer thread's connection (or another process's), and
        SQLite's `PRAGMA data_version` on this thread's connection changes whenever another
        connection commits, so a kept result is never older than a fresh read would be (2 us
        against ~90 for a page of model configurations)."""
        reads = self._reads
        connection = self.peewee.connection()
        version = connection.execute("PRAGMA data_version").fetchone()[0]
        if getattr(reads, "key", None) != (id(connection), version):
            reads.key, reads.results = (id(connection), version), {}
        results: dict[Hashable, Any] = reads.results
        if key not in results:
            if len(results) >= READ_CACHE_ENTRIES:
                del results[next(iter(results))]
            results[key] = read()
        return results[key]

    def backup_to(self, path: Path) -> None:
        """SQLite's online backup, from a connection of its own."""
        with closing(sqlite3.connect(self.path)) as source, closing(sqlite3.connect(path)) as copy:
            source.backup(copy)

    def restore_from(self, path: Path) -> int:
        """The backup API writes through the writer's connection and commits once."""

        def restore() -> int:
            with closing(sqlite3.connect(path)) as source:
                source.backup(self.peewee.connection())
            return self._migrate()

        return self._writer.submit(restore).result()

    def close(self) -> None:
        """The writer's connection first, then this thread's (the last closes SQLite's WAL)."""
        self._writer.submit(self.peewee.close).result()
        self._writer.shutdown(wait=True)
        self.peewee.close()
