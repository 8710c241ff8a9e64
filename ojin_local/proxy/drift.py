"""Checking each proxied exchange against the SEED spec, the real service's own contract.

Not the served spec: its overlays are ojin-local's additions, and the point is to see where
the upstream (the real service, or an ojin-local under test) parts from what the seed promises.
The request is checked by the edge's own `RequestCheck` compiled from the seed's operation, the
response's body by the same `SchemaValidator` the tests use, reading the seed's schemas.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ojin_local.errors import ApiError
from ojin_local.http.edge import RequestCheck
from ojin_local.spec import METHODS, Operation, resolve, seed_spec
from ojin_local.spec.validation import SchemaValidator

log = logging.getLogger("ojin_local.proxy")

API_PREFIX = "/v1"
JSON_TYPES = re.compile(r"^application/(.+\+)?json$")
MAX_REPORTED_ERRORS = 5  # of one body; the rest are counted


@dataclass(frozen=True)
class Violation:
    kind: str  # operation, request, status, content_type, body: see OjinDriftViolation
    expected: str
    found: str


@dataclass(frozen=True)
class SeedOperation:
    """One operation of the seed, ready to match a request path and check an exchange."""

    operation_id: str
    method: str
    template: str  # the seed's path, without the /v1 of its server
    exact: re.Pattern[str]  # each path parameter one segment
    loose: re.Pattern[str]  # a path parameter may span segments (variant ids hold slashes)
    check: RequestCheck
    responses: dict[str, dict[str, Any]]


def _pattern(template: str, parameter: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", template)
    regex = "".join(
        f"(?P<{part[1:-1]}>{parameter})" if part.startswith("{") else re.escape(part)
        for part in parts
    )
    return re.compile(f"^{re.escape(API_PREFIX)}{regex}$")


class Seed:
    """The seed's operations, and the checks of one exchange against them."""

    def __init__(self) -> None:
        self.document = seed_spec()
        self.requests = SchemaValidator(self.document)
        self.responses = SchemaValidator(self.document, responses=True)
        found = []
        for template, item in self.document["paths"].items():
            shared = [resolve(p, self.document) for p in item.get("parameters", [])]
            for method in METHODS:
                if method not in item:
                    continue
                spec = item[method]
                own = [resolve(p, self.document) for p in spec.get("parameters", [])]
                parameters = shared + own
                body = spec.get("requestBody")
                operation = Operation(
                    operation_id=spec["operationId"],
                    method=method.upper(),
                    path=API_PREFIX + template,
                    parameters=tuple(parameters),
                    request_body=resolve(body, self.document) if body is not None else None,
                    security=tuple(spec.get("security", self.document["security"])),
                )
                found.append(
                    SeedOperation(
                        operation_id=operation.operation_id,
                        method=operation.method,
                        template=template,
                        exact=_pattern(template, "[^/]+"),
                        loose=_pattern(template, ".+"),
                        check=RequestCheck(operation, self.requests),
                        responses=spec["responses"],
                    )
                )
        # Literal paths first, so that POST /assets/sign-part is not POST /assets/{asset_id}.
        self.operations = sorted(found, key=lambda op: op.template.count("{"))

    def match(self, method: str, path: str) -> tuple[SeedOperation, dict[str, str]] | None:
        """The operation a request is for and its raw path parameters, or None."""
        for attempt in ("exact", "loose"):
            for operation in self.operations:
                if operation.method != method:
                    continue
                found = getattr(operation, attempt).match(path)
                if found:
                    return operation, found.groupdict()
        return None

    def check_request(
        self, operation: SeedOperation, sent: Sent, path: dict[str, str]
    ) -> list[Violation]:
        try:
            operation.check(sent, path)  # type: ignore[arg-type]
        except ApiError as exc:
            errors = (exc.details or {}).get("errors") or []
            named = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or exc.message
            return [Violation("request", f"a request {operation.operation_id} accepts", named)]
        return []

    def check_response(
        self,
        operation: SeedOperation,
        status: int,
        content_type: str | None,
        content_encoding: str | None,
        body: bytes | None,
        size: int,
    ) -> list[Violation]:
        """Status documented, content type documented, body valid; `body` is None when it was
        too large to keep (then only status and content type are checked)."""
        documented = _documented(operation.responses, status)
        if documented is None:
            expected = ", ".join(sorted(operation.responses))
            return [Violation("status", f"one of {expected}", str(status))]
        response = resolve(documented, self.document)
        content = response.get("content") or {}
        media_type = (content_type or "").split(";")[0].strip().lower()
        if not content:
            if size:
                return [Violation("content_type", "no body", f"{media_type or 'a'} body")]
            return []
        if not any(_media_matches(media_type, declared) for declared in content):
            return [Violation("content_type", ", ".join(content), media_type or "none")]
        schema = (content.get(media_type) or {}).get("schema")
        if schema is None or body is None or not JSON_TYPES.match(media_type):
            return []
        try:
            value = json.loads(_decoded(body, content_encoding))
        except (ValueError, zlib.error) as exc:
            return [Violation("body", "a JSON body", f"not JSON: {exc}")]
        errors = self.responses.errors(schema, value)
        if not errors:
            return []
        named = [f"{e['field']}: {e['message']}" for e in errors[:MAX_REPORTED_ERRORS]]
        if len(errors) > MAX_REPORTED_ERRORS:
            named.append(f"and {len(errors) - MAX_REPORTED_ERRORS} more")
        return [Violation("body", f"the {status} body schema", "; ".join(named))]


@dataclass(frozen=True)
class Sent:
    """What the edge's `RequestCheck` reads of a request, once its body has passed."""

    query_string: str
    headers: dict[str, str]
    body: bytes


def _documented(responses: dict[str, Any], status: int) -> dict[str, Any] | None:
    for key in (str(status), f"{status // 100}XX", "default"):
        if key in responses:
            return responses[key]
    return None


def _media_matches(media_type: str, declared: str) -> bool:
    declared = declared.lower()
    if declared in ("*/*", media_type):
        return True
    return declared.endswith("/*") and media_type.startswith(declared[:-1])


def _decoded(body: bytes, encoding: str | None) -> bytes:
    encoding = (encoding or "identity").strip().lower()
    if encoding == "gzip":
        return zlib.decompress(body, wbits=31)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


@dataclass
class Entry:
    """One distinct violation, with how often and when it was seen."""

    operation_id: str | None
    method: str
    path: str
    violation: Violation
    request_id: str
    count: int
    first_seen: str
    last_seen: str

    def as_json(self) -> dict[str, Any]:
        return {
            "operation_id": self.operation_id,
            "method": self.method,
            "path": self.path,
            "kind": self.violation.kind,
            "expected": self.violation.expected,
            "found": self.violation.found,
            "request_id": self.request_id,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }


class DriftLog:
    """Every violation the proxy saw, each once with its count: /_ojin/drift and the summary."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.exchanges = 0
        self.upstream_errors = 0
        self._entries: dict[tuple[Any, ...], Entry] = {}

    def add(
        self,
        operation: SeedOperation | None,
        method: str,
        path: str,
        violations: list[Violation],
        request_id: str,
    ) -> None:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        operation_id = operation.operation_id if operation is not None else None
        where = operation.template if operation is not None else path
        for violation in violations:
            log.warning(
                "drift %s %s %s (%s): %s: expected %s, found %s",
                request_id, method, path, operation_id or "no operation", violation.kind,
                violation.expected, violation.found,
            )  # fmt: skip
            key = (operation_id, method, where, violation)
            entry = self._entries.get(key)
            if entry is None:
                self._entries[key] = Entry(
                    operation_id, method, where, violation, request_id, 1, now, now
                )
            else:
                entry.count += 1
                entry.request_id, entry.last_seen = request_id, now

    def report(self) -> dict[str, Any]:
        return {
            "upstream": self.upstream,
            "exchanges": self.exchanges,
            "upstream_errors": self.upstream_errors,
            "violations": [entry.as_json() for entry in self._entries.values()],
        }

    def summary(self) -> str:
        """The lines printed when the proxy stops."""
        entries = list(self._entries.values())
        lines = [
            f"ojin-local proxy: {self.exchanges} exchanges checked against the seed spec, "
            f"{len(entries)} distinct violations, {self.upstream_errors} upstream errors"
        ]
        for entry in entries:
            lines.append(
                f"  {entry.count}x {entry.method} {entry.path} "
                f"({entry.operation_id or 'no operation'}): {entry.violation.kind}: "
                f"expected {entry.violation.expected}, found {entry.violation.found}"
            )
        return "\n".join(lines)


@functools.cache
def seed() -> Seed:
    """Compiled once per process (~50 ms)."""
    return Seed()


NO_OPERATION = Violation("operation", "an operation of the seed spec", "no such operation")
