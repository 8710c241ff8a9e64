"""What every API process keeps in memory for its requests and must see change at once, whichever
process changed it: the fault rules, and the clocks with the namespaces they belong to.

Their truth is in the database. A change calls `mark_changed` inside its own write transaction,
which moves one counter in `meta`; each request first reads that counter (`Reloads.refresh`: fixed
SQL, a few microseconds on SQLite, a round trip on Postgres) and, when it moved, reloads what the
process holds before anything reads it. So a fault rule added through one API process applies to
the very next request another one serves.
"""

from __future__ import annotations

from collections.abc import Callable

from ojin_local.db.models import execute

VERSION_KEY = "memory_version"
_READ = "SELECT value FROM meta WHERE key = ?"
_MOVE = (
    "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key)"
    " DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)"
)


def mark_changed() -> None:
    """Inside a write transaction: what processes hold in memory changed with it."""
    execute(_MOVE, VERSION_KEY)


class Reloads:
    """Thread-safe enough: reloading twice is harmless, and each reload replaces whole values."""

    def __init__(self, *reloaders: Callable[[], None]) -> None:
        self._reloaders = reloaders
        self._seen: str | None = None

    def refresh(self) -> None:
        """Blocking (one read): reload everything if anything changed since the last look."""
        row = execute(_READ, VERSION_KEY).fetchone()
        version = row[0] if row is not None else "0"
        if version != self._seen:
            for reload in self._reloaders:
                reload()
            self._seen = version
