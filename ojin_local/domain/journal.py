"""The request journal: the most recent requests, so a test can assert what its client called
(WireMock's request verification). A bounded ring buffer in memory.

Every request is recorded, so recording is on the hot path: an entry is a plain tuple with the
wall-clock time as a float (formatting an ISO timestamp per request cost ~3 us, a dataclass
another ~1.5); entries become dicts, and times text, only when the journal is read.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any, NamedTuple

from ojin_local import spec

JOURNAL_SIZE = spec.query_parameter("ojinListRequests", "limit")["maximum"]
"""As many entries as its route may list at once."""


class JournalEntry(NamedTuple):
    time: float  # seconds since the epoch
    method: str
    path: str
    operation_id: str | None
    status: int
    duration_ms: float
    organization_id: str | None
    request_id: str

    def to_body(self) -> dict[str, Any]:
        body = self._asdict()
        stamp = datetime.fromtimestamp(self.time, UTC)
        body["time"] = stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return body


class RequestJournal:
    def __init__(self, size: int = JOURNAL_SIZE) -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=size)
        self._lock = threading.Lock()

    def record(
        self,
        method: str,
        path: str,
        operation_id: str | None,
        status: int,
        duration_ms: float,
        organization_id: str | None,
        request_id: str,
    ) -> None:
        entry = JournalEntry(
            time.time(), method, path, operation_id, status, duration_ms, organization_id,
            request_id,
        )  # fmt: skip
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def query(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        operation_id: str | None = None,
        status: int | None = None,
        organization_id: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first; `path` is a glob."""
        with self._lock:
            entries = list(self._entries)
        found = [
            entry
            for entry in reversed(entries)
            if (method is None or entry.method == method.upper())
            and (path is None or fnmatch.fnmatchcase(entry.path, path))
            and (operation_id is None or entry.operation_id == operation_id)
            and (status is None or entry.status == status)
            and (organization_id is None or entry.organization_id == organization_id)
        ]
        return [entry.to_body() for entry in found[:limit]]
