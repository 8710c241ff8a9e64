"""Fault injection: rules that make chosen API routes fail, stall or hang up, so a client's
retries and timeouts can be tested against the very routes of the spec (as WireMock's faults
and LocalStack's chaos API allow). Rules live in memory: a restart clears them.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from ojin_local.domain.common import new_id, now_iso
from ojin_local.errors import NotFound, ValidationError, field_error

DEFAULT_FAULT_CODE = "SERVICE_UNAVAILABLE"
MAX_LATENCY_MS = 600_000


@dataclass
class FaultRule:
    fault_id: str
    operation_id: str | None
    method: str | None
    path: str | None  # a glob over the request path, e.g. "/v1/model-configs*"
    status: int | None
    code: str | None
    message: str | None
    latency_ms: int
    drop_connection: bool
    probability: float
    times: int | None  # hits left; None = forever
    hits: int = 0
    created_at: str = field(default_factory=now_iso)

    def matches(self, method: str, path: str, operation_id: str | None) -> bool:
        if self.operation_id is not None and self.operation_id != operation_id:
            return False
        if self.method is not None and self.method != method:
            return False
        return self.path is None or fnmatch.fnmatchcase(path, self.path)

    def to_body(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Fault:
    """What to do to one request: wait, then answer an error or hang up (or go on)."""

    latency_ms: int
    status: int | None
    code: str | None
    message: str | None
    drop_connection: bool


class FaultRules:
    """Thread-safe: rules are matched on the event loop and changed by admin requests."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._random = random.Random()

    def add(self, body: Any) -> dict[str, Any]:
        rule = parse_rule(body)
        with self._lock:
            self._rules.append(rule)
        return rule.to_body()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_body() for rule in self._rules]

    def remove(self, fault_id: str) -> None:
        with self._lock:
            kept = [rule for rule in self._rules if rule.fault_id != fault_id]
            if len(kept) == len(self._rules):
                raise NotFound(f"Fault {fault_id} was not found.", {"fault_id": fault_id})
            self._rules = kept

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def match(self, method: str, path: str, operation_id: str | None) -> Fault | None:
        """The first matching rule that fires (its probability drawn); a rule whose `times`
        run out is dropped."""
        if not self._rules:
            return None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path, operation_id):
                    continue
                if self._random.random() >= rule.probability:
                    continue
                rule.hits += 1
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times == 0:
                        self._rules.remove(rule)
                return Fault(
                    rule.latency_ms, rule.status, rule.code, rule.message, rule.drop_connection
                )
        return None


def parse_rule(body: Any) -> FaultRule:
    if not isinstance(body, dict):
        raise ValidationError("A fault rule is a JSON object.", [field_error("(body)", "object")])
    errors: list[dict[str, str]] = []

    def take(name: str, kind: type | tuple[type, ...], check: Any = None, why: str = "") -> Any:
        value = body.get(name)
        if value is None:
            return None
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            errors.append(field_error(name, f"must be {why or kind}"))
            return None
        if check is not None and not check(value):
            errors.append(field_error(name, f"must be {why}"))
            return None
        return value

    known = {
        "operation_id", "method", "path", "status", "code", "message", "latency_ms",
        "drop_connection", "probability", "times",
    }  # fmt: skip
    errors += [field_error(name, "is not a fault rule field") for name in body if name not in known]
    operation_id = take("operation_id", str, bool, "a non-empty operationId")
    method = take("method", str, str.isalpha, "an HTTP method")
    path = take("path", str, lambda p: p.startswith("/"), "a path glob starting with /")
    status = take("status", int, lambda s: 400 <= s <= 599, "an HTTP error status, 400-599")
    code = take("code", str, bool, "a non-empty error code")
    message = take("message", str, None, "a string")
    latency = take("latency_ms", int, lambda n: 0 <= n <= MAX_LATENCY_MS, "0-600000")
    drop = take("drop_connection", bool, None, "a boolean")
    probability = take("probability", (int, float), lambda p: 0 < p <= 1, "in (0, 1]")
    times = take("times", int, lambda n: n >= 1, "a positive integer")
    if not body.keys() & {"operation_id", "method", "path"}:
        errors.append(field_error("operation_id", "or method and/or path must say what to match"))
    if not body.keys() & {"status", "latency_ms", "drop_connection"}:
        errors.append(field_error("status", "or latency_ms or drop_connection must say the fault"))
    if errors:
        raise ValidationError("The fault rule is not valid.", errors)
    return FaultRule(
        fault_id=new_id(),
        operation_id=operation_id,
        method=method.upper() if method else None,
        path=path,
        status=status,
        code=(code or DEFAULT_FAULT_CODE) if status is not None else None,
        message=message,
        latency_ms=latency or 0,
        drop_connection=bool(drop),
        probability=float(probability) if probability is not None else 1.0,
        times=times,
    )
