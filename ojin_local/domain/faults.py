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

from ojin_local.domain.clock import now_iso
from ojin_local.domain.common import new_id
from ojin_local.errors import NotFound

DEFAULT_FAULT_CODE = "SERVICE_UNAVAILABLE"


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
    namespace_id: str | None = None  # only requests made with that namespace's keys
    hits: int = 0
    created_at: str = field(default_factory=now_iso)

    def matches(
        self, method: str, path: str, operation_id: str | None, namespace_id: str | None
    ) -> bool:
        if self.namespace_id is not None and self.namespace_id != namespace_id:
            return False
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

    def add(self, body: dict[str, Any]) -> dict[str, Any]:
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

    def forget_namespace(self, namespace_id: str) -> None:
        with self._lock:
            self._rules = [rule for rule in self._rules if rule.namespace_id != namespace_id]

    def match(
        self, method: str, path: str, operation_id: str | None, namespace_id: str | None = None
    ) -> Fault | None:
        """The first matching rule that fires (its probability drawn); a rule whose `times`
        run out is dropped."""
        if not self._rules:
            return None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path, operation_id, namespace_id):
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


def parse_rule(body: dict[str, Any]) -> FaultRule:
    """A rule from a body already checked against the spec's OjinFaultRule (null is absent)."""
    given = {name: value for name, value in body.items() if value is not None}
    status = given.get("status")
    return FaultRule(
        fault_id=new_id(),
        operation_id=given.get("operation_id"),
        method=given["method"].upper() if "method" in given else None,
        path=given.get("path"),
        status=status,
        code=given.get("code", DEFAULT_FAULT_CODE) if status is not None else None,
        message=given.get("message"),
        latency_ms=given.get("latency_ms", 0),
        drop_connection=given.get("drop_connection", False),
        probability=float(given.get("probability", 1.0)),
        times=given.get("times"),
        namespace_id=given.get("namespace_id"),
    )
