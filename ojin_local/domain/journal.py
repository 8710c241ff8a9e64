"""The request journal: the most recent requests, so a test can assert what its client called
(WireMock's request verification). A bounded ring buffer in memory."""

from __future__ import annotations

import fnmatch
import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from ojin_local import spec

JOURNAL_SIZE = spec.query_parameter("ojinListRequests", "limit")["maximum"]
"""As many entries as its route may list at once."""


@dataclass(frozen=True)
class JournalEntry:
    time: str
    method: str
    path: str
    operation_id: str | None
    status: int
    duration_ms: float
    organization_id: str | None
    request_id: str


class RequestJournal:
    def __init__(self, size: int = JOURNAL_SIZE) -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, entry: JournalEntry) -> None:
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
            asdict(entry)
            for entry in reversed(entries)
            if (method is None or entry.method == method.upper())
            and (path is None or fnmatch.fnmatchcase(entry.path, path))
            and (operation_id is None or entry.operation_id == operation_id)
            and (status is None or entry.status == status)
            and (organization_id is None or entry.organization_id == organization_id)
        ]
        return found[:limit]
