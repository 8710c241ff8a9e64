"""Fault injection: rules that make chosen API routes fail, stall or hang up, so a client's
retries and timeouts can be tested against the very routes of the spec (as WireMock's faults
and LocalStack's chaos API allow). Rules are kept in the database, so every API process of a
shared instance applies them; `serve` clears them as it starts.
"""

from __future__ import annotations

import fnmatch
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from ojin_local.db.models import execute
from ojin_local.domain.clock import now_iso
from ojin_local.domain.common import new_id
from ojin_local.domain.reloads import mark_changed
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
    """The rules, kept in the database (so that every API process applies them, see
    domain.reloads) and matched on the event loop against this process's copy.

    Changes are functions run on the database's writer thread, inside its transaction; each
    marks the copies changed. A rule firing is such a change too (`fire`): its hit is counted,
    and a rule with `times` spends one, once across all processes."""

    def __init__(self) -> None:
        self._rules: tuple[FaultRule, ...] = ()
        self._random = random.Random()

    def load(self) -> None:
        """Blocking: this process's copy, from the database."""
        self._rules = tuple(_rule(row) for row in execute(_ALL_RULES).fetchall())

    def list(self) -> list[dict[str, Any]]:
        """Blocking: as stored, hits and times left as every process counted them."""
        return [_rule(row).to_body() for row in execute(_ALL_RULES).fetchall()]

    def match(
        self, method: str, path: str, operation_id: str | None, namespace_id: str | None = None
    ) -> FaultRule | None:
        """The first rule that matches this request and fires (its probability drawn)."""
        for rule in self._rules:
            if not rule.matches(method, path, operation_id, namespace_id):
                continue
            if self._random.random() < rule.probability:
                return rule
        return None

    # Changes (on the writer thread)

    def add(self, body: dict[str, Any]) -> dict[str, Any]:
        rule = parse_rule(body)
        execute(
            "INSERT INTO fault_rule (fault_id, added, namespace_id, times, hits, rule)"
            " VALUES (?, ?, ?, ?, 0, ?)",
            rule.fault_id,
            time.time(),
            rule.namespace_id,
            rule.times,
            orjson.dumps(_rest(rule)).decode(),
        )
        mark_changed()
        return rule.to_body()

    def remove(self, fault_id: str) -> None:
        if not execute("DELETE FROM fault_rule WHERE fault_id = ?", fault_id).rowcount:
            raise NotFound(f"Fault {fault_id} was not found.", {"fault_id": fault_id})
        mark_changed()

    def clear(self) -> None:
        execute("DELETE FROM fault_rule")
        mark_changed()

    def fire(self, rule: FaultRule) -> Fault | None:
        """Count a hit; None if another process spent the rule's last one first. A rule whose
        `times` run out is dropped."""
        spent = execute(
            "UPDATE fault_rule SET hits = hits + 1, times = times - 1"
            " WHERE fault_id = ? AND (times IS NULL OR times > 0)",
            rule.fault_id,
        ).rowcount
        if not spent:
            return None
        spent_all = "DELETE FROM fault_rule WHERE fault_id = ? AND times = 0"
        if execute(spent_all, rule.fault_id).rowcount:
            mark_changed()
        return Fault(rule.latency_ms, rule.status, rule.code, rule.message, rule.drop_connection)


def forget_namespace(namespace_id: str) -> None:
    """Inside a namespace's reset or deletion: its rules go with it."""
    if execute("DELETE FROM fault_rule WHERE namespace_id = ?", namespace_id).rowcount:
        mark_changed()


_ALL_RULES = (
    "SELECT fault_id, namespace_id, times, hits, rule FROM fault_rule ORDER BY added, fault_id"
)
_STORED_APART = ("fault_id", "namespace_id", "times", "hits")


def _rest(rule: FaultRule) -> dict[str, Any]:
    return {k: v for k, v in asdict(rule).items() if k not in _STORED_APART}


def _rule(row: tuple[Any, ...]) -> FaultRule:
    fault_id, namespace_id, times, hits, rest = row
    return FaultRule(
        fault_id=fault_id, namespace_id=namespace_id, times=times, hits=hits, **orjson.loads(rest)
    )


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
