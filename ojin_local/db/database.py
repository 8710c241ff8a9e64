"""The SQLite database of a data dir, and how the server talks to it.

Reads run inline: in WAL mode a reader never waits for the write lock, and a 20-row select costs
less than a hop to another thread. Every write runs on one dedicated writer thread inside
`BEGIN IMMEDIATE`, so read-then-write sequences never fail with "database is locked" (a plain
BEGIN did, 290 times in 400, in ../shared/notes/stack-findings.md) and the event loop never
blocks on the write lock. That is the shape Datasette uses.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import sqlite3
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, closing
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import peewee as pw

from ojin_local.db.migrations import DatabaseTooNew, migrate, schema_version
from ojin_local.db.models import ALL_MODELS

__all__ = ["Database", "DatabaseTooNew"]

FILENAME = "ojin-local.sqlite3"
BUSY_TIMEOUT_MS = 10_000
READ_CACHE_ENTRIES = 256  # pages kept by cached_read, per reading thread

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILENAME
        self.peewee = pw.SqliteDatabase(
            str(self.path),
            pragmas={
                "journal_mode": "wal",
                "foreign_keys": 1,
                "busy_timeout": BUSY_TIMEOUT_MS,
                "synchronous": "normal",
            },
            lock_type="IMMEDIATE",
        )
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._reads = threading.local()  # cached_read's results, per reading thread

    @classmethod
    def opened(cls, data_dir: Path) -> Database:
        """A data dir's database, created or migrated; closed again if that fails."""
        db = cls(data_dir)
        try:
            db.open()
        except BaseException:
            db.close()
            raise
        return db

    def open(self) -> int:
        """Create or migrate the schema and bind the models; returns migrations applied."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.peewee.bind(ALL_MODELS)
        return self._writer.submit(migrate, self.peewee, str(self.path)).result()

    @property
    def schema_version(self) -> int:
        return schema_version(self.peewee)

    def write_sync(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` in one IMMEDIATE transaction on the writer thread and wait for it."""
        context = contextvars.copy_context()  # e.g. the clock the caller reads (domain.clock)
        return self._writer.submit(context.run, self._in_transaction, fn, *args, **kwargs).result()

    async def write(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` in one IMMEDIATE transaction on the writer thread without blocking the loop."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()  # e.g. the clock the caller reads (domain.clock)
        call = functools.partial(context.run, self._in_transaction, fn, *args, **kwargs)
        return await loop.run_in_executor(self._writer, call)

    def snapshot(self) -> AbstractContextManager[object]:
        """A read transaction (DEFERRED: it takes no lock, and in WAL mode never waits for the
        writer) in which every statement sees one state of the database. A list's count and
        its page must come from one: read apart, a row committed in between made a page longer
        than its total_items said."""
        return self.peewee.atomic(lock_type="DEFERRED")

    def cached_read(self, key: Hashable, read: Callable[[], T]) -> T:
        """`read()`'s result, kept until the database changes. Every write commits on the
        writer thread's connection (or another process's), and SQLite's `PRAGMA data_version`
        on this thread's connection changes whenever another connection commits, so a kept
        result is never older than a fresh read would be (2 us against ~90 for a page of
        model configurations)."""
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

    def _in_transaction(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        with self.peewee.atomic():
            return fn(*args, **kwargs)

    def backup_to(self, path: Path) -> None:
        """A consistent copy of the whole database while the server runs (SQLite's online
        backup, from a connection of its own)."""
        with closing(sqlite3.connect(self.path)) as source, closing(sqlite3.connect(path)) as copy:
            source.backup(copy)

    def restore_from(self, path: Path) -> int:
        """Replace the whole database with a copy, in one step readers see whole (the backup
        API writes through the writer's connection and commits once), then migrate it.
        Returns migrations applied."""

        def restore() -> int:
            with closing(sqlite3.connect(path)) as source:
                source.backup(self.peewee.connection())
            return migrate(self.peewee, str(self.path))

        return self._writer.submit(restore).result()

    def close(self) -> None:
        """Close the writer's connection (last, so SQLite checkpoints the WAL) and this thread's."""
        self._writer.submit(self.peewee.close).result()
        self._writer.shutdown(wait=True)
        self.peewee.close()
