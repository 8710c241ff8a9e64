"""The request journal: the most recent requests, so a test can assert what its client called
(WireMock's request verification) and a developer can see what was sent and answered. A bounded
ring buffer in memory: at most `JOURNAL_SIZE` entries, and at most `BODY_BUDGET_BYTES` of kept
bodies (past it, the oldest entries lose their bodies, not their place).

Every request is recorded, so recording is on the hot path: an entry is a plain tuple holding
what the request already has (the time as a float, header pairs, body bytes up to the cap);
secrets are left out as it is recorded, and entries become JSON only when the journal is read.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
import threading
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qsl, urlencode

import orjson

from ojin_local import spec
from ojin_local.db import Database
from ojin_local.db.models import execute_on

JOURNAL_SIZE = spec.query_parameter("ojinListRequests", "limit")["maximum"]
"""As many entries as its route may list at once."""
BODY_CAP_BYTES = 64 * 1024
BODY_BUDGET_BYTES = 32 * 1024 * 1024
SECRET_HEADERS = frozenset({"x-api-key", "authorization", "cookie", "set-cookie"})
SIGNATURE_PARAMETERS = frozenset(
    {"x-ojin-signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token"}
)
_SIGNATURE_IN_TEXT = re.compile(
    r"(?<=[?&])(?:X-Ojin-Signature|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token)"
    r"=[^&\"\s]*&?",
    re.IGNORECASE,
)


class Body(NamedTuple):
    content_type: str | None
    size_bytes: int
    head: bytes  # the first BODY_CAP_BYTES

    def to_body(self) -> dict[str, Any] | None:
        """As the spec's OjinJournalBody: JSON kept whole up to the cap, then cut as text."""
        if not self.size_bytes:
            return None
        body: dict[str, Any] = {
            "content_type": self.content_type,
            "size_bytes": self.size_bytes,
            "truncated": False,
        }
        if not _is_json(self.content_type):
            return body
        # The pre-signed URLs a body carries (sign-part, download) lose their signatures.
        text = _SIGNATURE_IN_TEXT.sub("", self.head.decode("utf-8", "replace"))
        if self.size_bytes > len(self.head):
            body.update(truncated=True, text=text)
            return body
        try:
            body["json"] = orjson.loads(text)
        except orjson.JSONDecodeError:
            body["text"] = text
        return body


NO_BODY = Body(None, 0, b"")


def body_of(content_type: str | None, data: bytes | None, size: int | None = None) -> Body:
    """A body as kept: only JSON bodies keep their bytes (up to the cap), others their size."""
    size = len(data) if data is not None else (size or 0)
    if not size:
        return NO_BODY
    head = data[:BODY_CAP_BYTES] if data is not None and _is_json(content_type) else b""
    return Body(content_type, size, head)


def _is_json(content_type: str | None) -> bool:
    return content_type is not None and "json" in content_type.split(";", 1)[0]


def public_headers(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((name, value) for name, value in pairs if name.lower() not in SECRET_HEADERS)


def public_query(query: str) -> str:
    """The query string without the signatures of pre-signed URLs."""
    lowered = query.lower()
    if not any(name in lowered for name in SIGNATURE_PARAMETERS):
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, v) for k, v in pairs if k.lower() not in SIGNATURE_PARAMETERS])


class JournalEntry(NamedTuple):
    time: float  # seconds since the epoch, real time (the journal is the developer's)
    method: str
    path: str
    query: str
    operation_id: str | None
    status: int
    duration_ms: float
    organization_id: str | None
    namespace_id: str | None
    request_id: str
    request_headers: tuple[tuple[str, str], ...]
    response_headers: tuple[tuple[str, str], ...]
    request_body: Body
    response_body: Body

    def to_body(self) -> dict[str, Any]:
        """As the spec's OjinJournalEntry: what a listing shows."""
        stamp = datetime.fromtimestamp(self.time, UTC)
        return {
            "time": stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "operation_id": self.operation_id,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "organization_id": self.organization_id,
            "namespace_id": self.namespace_id,
            "request_id": self.request_id,
        }

    def to_detail(self) -> dict[str, Any]:
        """As the spec's OjinJournalEntryDetail: the entry whole."""
        return {
            **self.to_body(),
            "request_headers": _joined(self.request_headers),
            "response_headers": _joined(self.response_headers),
            "request_body": self.request_body.to_body(),
            "response_body": self.response_body.to_body(),
        }

    @property
    def kept_bytes(self) -> int:
        return len(self.request_body.head) + len(self.response_body.head)

    def without_bodies(self) -> JournalEntry:
        """Sizes stay; the bytes go (shown as cut)."""
        return self._replace(
            request_body=self.request_body._replace(head=b""),
            response_body=self.response_body._replace(head=b""),
        )


def _joined(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Repeated headers as one, comma-separated (RFC 9110 section 5.3)."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


class Journal(Protocol):
    """Where entries are kept: this process's memory, or the database that several API
    processes share (`DatabaseJournal`)."""

    def record(self, entry: JournalEntry) -> None: ...
    def clear(self) -> None: ...
    def forget_namespace(self, namespace_id: str) -> None: ...
    def get(self, request_id: str) -> dict[str, Any] | None: ...
    def query(self, **filters: Any) -> list[dict[str, Any]]: ...


class RequestJournal:
    def __init__(self, size: int = JOURNAL_SIZE, budget_bytes: int = BODY_BUDGET_BYTES) -> None:
        self._entries: deque[JournalEntry] = deque()
        self._size = size
        self._budget = budget_bytes
        self._kept = 0  # body bytes held
        self._bare = 0  # how many of the oldest entries have lost their bodies
        self._lock = threading.Lock()

    def record(self, entry: JournalEntry) -> None:
        with self._lock:
            entries = self._entries
            entries.append(entry)
            self._kept += entry.kept_bytes
            if len(entries) > self._size:
                self._kept -= entries.popleft().kept_bytes
                self._bare = max(self._bare - 1, 0)
            while self._kept > self._budget and self._bare < len(entries):
                oldest = entries[self._bare]
                entries[self._bare] = oldest.without_bodies()
                self._kept -= oldest.kept_bytes
                self._bare += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._kept = self._bare = 0

    def forget_namespace(self, namespace_id: str) -> None:
        with self._lock:
            self._entries = deque(e for e in self._entries if e.namespace_id != namespace_id)
            self._kept = sum(e.kept_bytes for e in self._entries)
            self._bare = 0

    def get(self, request_id: str) -> dict[str, Any] | None:
        """The newest entry with this id (a client may send the same X-Request-Id twice)."""
        with self._lock:
            found = next((e for e in reversed(self._entries) if e.request_id == request_id), None)
        return found.to_detail() if found is not None else None

    def query(self, **filters: Any) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(self._entries)
        return select(reversed(entries), **filters)


def select(
    newest_first: Iterable[JournalEntry],
    *,
    method: str | None = None,
    path: str | None = None,
    operation_id: str | None = None,
    status: int | None = None,
    organization_id: str | None = None,
    namespace_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The entries a listing shows, newest first; `path` is a glob."""
    found = (
        entry
        for entry in newest_first
        if (method is None or entry.method == method.upper())
        and (path is None or fnmatch.fnmatchcase(entry.path, path))
        and (operation_id is None or entry.operation_id == operation_id)
        and (status is None or entry.status == status)
        and (organization_id is None or entry.organization_id == organization_id)
        and (namespace_id is None or entry.namespace_id == namespace_id)
    )
    return [entry.to_body() for entry in itertools.islice(found, limit)]


class DatabaseJournal:
    """The journal of several API processes, in the table `journal_entry`: every request adds a
    row before its answer is sent, so a listing made next, by whichever process, shows it.

    Bounded as the memory journal is: at most JOURNAL_SIZE rows (the oldest deleted every
    TRIM_EVERY inserts of a process), and bodies kept for the newest BODY_ROWS only, which holds
    kept bodies to BODY_BUDGET_BYTES (each row keeps at most 2 x BODY_CAP_BYTES). An insert is
    one statement in autocommit on the database's `unsynchronized` handle, outside the writer
    threads: it checks no rule and conflicts with nothing, and being a diagnostic it does not
    wait for a WAL flush (a crash may lose the last entries, never data). A transaction of its
    own on the main handle (BEGIN, SET LOCAL, INSERT, COMMIT) made two processes slower than one.
    """

    TRIM_EVERY = 64
    BODY_ROWS = BODY_BUDGET_BYTES // (2 * BODY_CAP_BYTES)

    def __init__(self, db: Database) -> None:
        self._db = db.unsynchronized()
        self._inserts = 0

    def _execute(self, sql: str, *params: Any) -> Any:
        return execute_on(self._db, sql, *params)

    def record(self, entry: JournalEntry) -> None:
        self._execute(
            "INSERT INTO journal_entry"
            " (request_id, namespace_id, entry, request_body, response_body)"
            " VALUES (?, ?, ?, ?, ?)",
            entry.request_id,
            entry.namespace_id,
            _stored(entry),
            entry.request_body.head or None,
            entry.response_body.head or None,
        )
        self._inserts += 1
        if self._inserts % self.TRIM_EVERY == 0:
            self._trim()

    def _trim(self) -> None:
        newest = self._execute("SELECT max(seq) FROM journal_entry").fetchone()[0] or 0
        self._execute("DELETE FROM journal_entry WHERE seq <= ?", newest - JOURNAL_SIZE)
        self._execute(
            "UPDATE journal_entry SET request_body = NULL, response_body = NULL"
            " WHERE seq <= ? AND (request_body IS NOT NULL OR response_body IS NOT NULL)",
            newest - self.BODY_ROWS,
        )

    def clear(self) -> None:
        self._execute("DELETE FROM journal_entry")

    def forget_namespace(self, namespace_id: str) -> None:
        self._execute("DELETE FROM journal_entry WHERE namespace_id = ?", namespace_id)

    def get(self, request_id: str) -> dict[str, Any] | None:
        row = self._execute(
            "SELECT entry, request_body, response_body FROM journal_entry WHERE request_id = ?"
            " ORDER BY seq DESC LIMIT 1",
            request_id,
        ).fetchone()
        if row is None:
            return None
        entry = _loaded(row[0])
        return entry._replace(
            request_body=entry.request_body._replace(head=bytes(row[1] or b"")),
            response_body=entry.response_body._replace(head=bytes(row[2] or b"")),
        ).to_detail()

    def query(self, **filters: Any) -> list[dict[str, Any]]:
        rows = self._execute(
            "SELECT entry FROM journal_entry ORDER BY seq DESC LIMIT ?", JOURNAL_SIZE
        ).fetchall()
        return select((_loaded(row[0]) for row in rows), **filters)


def _stored(entry: JournalEntry) -> bytes:
    """The entry as a JSON array, its bodies as [content type, size] (their bytes go apart)."""
    return orjson.dumps([*entry[:12], entry.request_body[:2], entry.response_body[:2]])


def _loaded(stored: bytes) -> JournalEntry:
    fields = orjson.loads(bytes(stored))
    fields[10], fields[11] = _pairs(fields[10]), _pairs(fields[11])
    fields[12], fields[13] = Body(*fields[12], b""), Body(*fields[13], b"")
    return JournalEntry(*fields)


def _pairs(stored: list[list[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((name, value) for name, value in stored)
