"""The virtual clock: real time plus an offset that tests move forward (POST /_ojin/clock).

The server's clock may run ahead of real time, and a namespace's clock ahead of the server's.
Every timestamp the API writes and every expiry it checks reads `now()`, which follows the clock of
whoever is being served: `endpoint` enters the server's clock for each request and the caller's
namespace clock once the key is known; a job runs on its organization's clock. A context variable
carries it, so domain code asks for the time without knowing whose it is (and a write handed to
the database's writer thread takes it along, see `Database.write`).

Offsets are kept in the database (the namespace table and `meta`), so they survive a restart.
"""

from __future__ import annotations

import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

from ojin_local.db.models import Meta, Namespace
from ojin_local.domain.reloads import mark_changed

SERVER_OFFSET_KEY = "clock_offset_seconds"
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class Reading:
    """Whose clock is in effect: a namespace's (or None: the server's), and its offset."""

    namespace_id: str | None
    offset_seconds: float


REAL_TIME = Reading(None, 0.0)
_reading: ContextVar[Reading] = ContextVar("ojin_local_clock", default=REAL_TIME)


def now_epoch() -> float:
    return time.time() + _reading.get().offset_seconds


def now() -> datetime:
    return datetime.fromtimestamp(now_epoch(), UTC)


def now_iso() -> str:
    """UTC, ISO 8601, microseconds, fixed width: sorts as text in the order it happened."""
    return now().strftime(ISO_FORMAT)


def current_namespace() -> str | None:
    """The namespace whose clock is in effect: pre-signed URLs name it, to be checked by it."""
    return _reading.get().namespace_id


def enter(reading: Reading) -> None:
    """From here on, in this context (a request's task, a job's run), time is `reading`'s."""
    _reading.set(reading)


class Clock:
    """The offsets in effect, read on every request: kept in memory, written through to the
    database. Thread-safe: requests read it on the event loop, jobs on the consumer's threads."""

    def __init__(self) -> None:
        self._server = 0.0
        self._namespaces: dict[str, float] = {}
        self._namespace_of: dict[str, str] = {}  # organization -> its namespace
        self._lock = threading.Lock()

    def load(self) -> None:
        """Blocking: the offsets and namespaces stored in the database."""
        row = Meta.select(Meta.value).where(Meta.key == SERVER_OFFSET_KEY).first()
        namespaces = list(
            Namespace.select(
                Namespace.namespace_id,
                Namespace.organization_id,
                Namespace.other_organization_id,
                Namespace.clock_offset_seconds,
            ).tuples()
        )
        with self._lock:
            self._server = float(row.value) if row is not None else 0.0
            self._namespaces = {ns: offset for ns, _, _, offset in namespaces}
            self._namespace_of = {org: ns for ns, *orgs, _ in namespaces for org in orgs}

    def server(self) -> Reading:
        return Reading(None, self._server)

    def of_namespace(self, namespace_id: str | None) -> Reading:
        """A namespace's clock; an unknown namespace (or None) reads the server's."""
        offset = self._namespaces.get(namespace_id) if namespace_id is not None else None
        if offset is None:
            return self.server()
        return Reading(namespace_id, self._server + offset)

    def of_organization(self, organization_id: str) -> Reading:
        return self.of_namespace(self._namespace_of.get(organization_id))

    def organizations_of(self, namespace_id: str) -> tuple[str, ...]:
        return tuple(org for org, ns in self._namespace_of.items() if ns == namespace_id)

    # Changes: run on the database's writer thread, inside its transaction. An advance adds to
    # the stored offset, not to this process's copy of it, so that a transaction run again
    # (Postgres retries) counts once and another process's advance is not lost.

    def advance_server(self, seconds: float) -> Reading:
        stored = Meta.select(Meta.value).where(Meta.key == SERVER_OFFSET_KEY).scalar()
        return self._set_server(float(stored or 0.0) + seconds)

    def reset_server(self) -> Reading:
        return self._set_server(0.0)

    def advance_namespace(self, namespace_id: str, seconds: float) -> Reading:
        stored = (
            Namespace.select(Namespace.clock_offset_seconds)
            .where(Namespace.namespace_id == namespace_id)
            .scalar()
        )
        return self._set_namespace(namespace_id, stored + seconds)

    def reset_namespace(self, namespace_id: str) -> Reading:
        return self._set_namespace(namespace_id, 0.0)

    def add_namespace(self, namespace_id: str, organizations: tuple[str, str]) -> None:
        with self._lock:
            self._namespaces[namespace_id] = 0.0
            self._namespace_of.update(dict.fromkeys(organizations, namespace_id))

    def remove_namespace(self, namespace_id: str) -> None:
        with self._lock:
            self._namespaces.pop(namespace_id, None)
            self._namespace_of = {
                org: ns for org, ns in self._namespace_of.items() if ns != namespace_id
            }

    def reset_all(self) -> None:
        """Every clock back to real time (POST /_ojin/reset)."""
        self._set_server(0.0)
        Namespace.update(clock_offset_seconds=0.0).execute()
        mark_changed()
        with self._lock:
            self._namespaces = dict.fromkeys(self._namespaces, 0.0)

    def _set_server(self, offset: float) -> Reading:
        Meta.insert(key=SERVER_OFFSET_KEY, value=repr(offset)).on_conflict(
            conflict_target=[Meta.key], update={Meta.value: repr(offset)}
        ).execute()
        mark_changed()
        with self._lock:
            self._server = offset
        return self.server()

    def _set_namespace(self, namespace_id: str, offset: float) -> Reading:
        Namespace.update(clock_offset_seconds=offset).where(
            Namespace.namespace_id == namespace_id
        ).execute()
        mark_changed()
        with self._lock:
            self._namespaces[namespace_id] = offset
        return self.of_namespace(namespace_id)


def clock_body(reading: Reading) -> dict[str, object]:
    """As the spec's OjinClock."""
    stamp = datetime.fromtimestamp(time.time() + reading.offset_seconds, UTC)
    return {"now": stamp.strftime(ISO_FORMAT), "offset_seconds": reading.offset_seconds}
