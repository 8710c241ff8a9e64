"""The API contract, kept as data: the seed OpenAPI document and the overlays on it.

`ojin-rest-v1.json` is a verbatim copy of the real service's spec; never edit it by hand. The
Overlay 1.0 documents in `overlays/` (applied in name order, once per process) add the local
routes and pin down what the seed leaves open, each addition marked `x-ojin-local`; the result
is the document served at /openapi.json. Code reads its facts from here (enums, field lists,
bounds, each operation's parameters, body and security) instead of typing them again, so a
change to an overlay changes behaviour and docs together.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ojin_local.spec.overlay import apply_overlay

SEED_FILENAME = "ojin-rest-v1.json"
OVERLAYS = "overlays"
LOCAL = "x-ojin-local"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@functools.cache
def _seed_text() -> str:
    return resources.files(__package__).joinpath(SEED_FILENAME).read_text(encoding="utf-8")


def seed_spec() -> dict[str, Any]:
    """A fresh copy of the seed document, safe to modify."""
    return json.loads(_seed_text())


@functools.cache
def _served() -> dict[str, Any]:
    """The seed with every overlay applied, shared by the facts below: read it, never modify
    it (`served_spec` gives a copy to modify)."""
    document = seed_spec()
    folder = resources.files(__package__).joinpath(OVERLAYS)
    for overlay in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if overlay.name.endswith(".json"):
            apply_overlay(document, json.loads(overlay.read_text(encoding="utf-8")))
    return document


@functools.cache
def served_text() -> str:
    """The served document as JSON text, as /openapi.json answers it."""
    return json.dumps(_served(), ensure_ascii=False)


def served_spec() -> dict[str, Any]:
    """A fresh copy of the served document, safe to modify."""
    return json.loads(served_text())


def resolve(node: dict[str, Any], document: dict[str, Any] | None = None) -> dict[str, Any]:
    """`node`, or what its `$ref` (a `#/...` pointer into `document`, by default the served
    document) points at."""
    while "$ref" in node:
        target: Any = _served() if document is None else document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def schema(name: str) -> dict[str, Any]:
    return _served()["components"]["schemas"][name]


def fields(name: str) -> tuple[str, ...]:
    """The properties of a component schema, in the document's order."""
    return tuple(schema(name)["properties"])


def enum(name: str, field: str | None = None) -> tuple[str, ...]:
    """The values of a component schema's enum, or of one of its properties'."""
    node = schema(name) if field is None else resolve(schema(name)["properties"][field])
    return tuple(node["enum"])


def query_parameter(operation_id: str, name: str) -> dict[str, Any]:
    """The schema of one of an operation's query parameters (its bounds, its default)."""
    found = operations()[operation_id].parameters
    return resolve(next(p for p in found if p["in"] == "query" and p["name"] == name)["schema"])


@dataclass(frozen=True)
class Operation:
    """One operation as the server routes it, its `$ref`s resolved."""

    operation_id: str
    method: str
    path: str  # the server's prefix and the document's path: /v1/assets/{asset_id}
    parameters: tuple[dict[str, Any], ...]
    request_body: dict[str, Any] | None
    security: tuple[dict[str, list[str]], ...]


@functools.cache
def operations() -> dict[str, Operation]:
    """Every operation of the served document, by operationId."""
    document = _served()
    found = {}
    for path, item in document["paths"].items():
        servers = item.get("servers") or document["servers"]
        prefix = servers[0]["url"].rstrip("/")
        shared = [resolve(p) for p in item.get("parameters", [])]
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            own = [resolve(p) for p in operation.get("parameters", [])]
            overridden = {(p["name"], p["in"]) for p in own}
            parameters = [p for p in shared if (p["name"], p["in"]) not in overridden] + own
            body = operation.get("requestBody")
            found[operation["operationId"]] = Operation(
                operation_id=operation["operationId"],
                method=method.upper(),
                path=prefix + path,
                parameters=tuple(parameters),
                request_body=resolve(body) if body is not None else None,
                security=tuple(operation.get("security", document["security"])),
            )
    return found
