"""Applying an OpenAPI Overlay 1.0 document (https://spec.openapis.org/overlay/v1.0.0.html).

Each action names its target with a JSONPath and either merges `update` into every node it
selects (objects merge recursively, arrays concatenate, other values are replaced) or removes
them. The targets here use only the plain part of JSONPath (names, unions of names, `*`,
indexes), which is parsed in a few lines instead of loading a JSONPath library at every start
(jsonpath-ng costs ~30 ms to import and ~1 ms per path; the test suite checks these targets
against it). Stricter than the specification on purpose: a target that selects nothing, an
unsupported JSONPath and an update that would replace an object or array by something else are
errors, so a mistake in the overlay (or a seed that moved under it) stops the start.
"""

from __future__ import annotations

import copy
import re
from typing import Any

_SEGMENT = re.compile(
    r"\.(?P<name>[A-Za-z_$][\w$-]*)"
    r"|\[(?P<names>'[^']*'(?:,'[^']*')*)\]"
    r"|\[(?P<index>\d+)\]"
    r"|(?P<wild>\.\*|\[\*\])"
)


class OverlayError(ValueError):
    """The overlay cannot be applied as written."""


Node = tuple[Any, Any, Any]  # (parent, key in the parent, value)


def apply_overlay(document: dict[str, Any], overlay: dict[str, Any]) -> None:
    """Apply `overlay`'s actions to `document`, in order, in place."""
    if not str(overlay.get("overlay", "")).startswith("1.0"):
        raise OverlayError(f"not an Overlay 1.0 document: {overlay.get('overlay')!r}")
    for action in overlay["actions"]:
        target = action["target"]
        nodes = select(document, target)
        if not nodes:
            raise OverlayError(f"{target} selects nothing")
        for position, (parent, key, value) in enumerate(nodes):
            if action.get("remove"):
                del parent[key]
                continue
            update = action["update"] if position == 0 else copy.deepcopy(action["update"])
            if isinstance(value, list):
                value.append(update)
            elif isinstance(value, dict) and isinstance(update, dict):
                _merge(value, update, target)
            else:
                raise OverlayError(f"{target}: cannot merge {type(update).__name__} into it")


def select(document: Any, target: str) -> list[Node]:
    """The nodes a JSONPath (names, unions of names, `*`, indexes) selects."""
    if not target.startswith("$"):
        raise OverlayError(f"{target}: a JSONPath starts with $")
    nodes: list[Node] = [(None, None, document)]
    position = 1
    while position < len(target):
        found = _SEGMENT.match(target, position)
        if found is None:
            raise OverlayError(f"{target}: unsupported JSONPath at {target[position:]!r}")
        position = found.end()
        nodes = [child for node in nodes for child in _children(node[2], found)]
    return nodes


def _children(value: Any, segment: re.Match[str]) -> list[Node]:
    if segment["wild"]:
        if isinstance(value, dict):
            return [(value, key, child) for key, child in value.items()]
        return (
            [(value, index, child) for index, child in enumerate(value)]
            if isinstance(value, list)
            else []
        )
    if segment["index"] is not None:
        index = int(segment["index"])
        found = isinstance(value, list) and index < len(value)
        return [(value, index, value[index])] if found else []
    names = [segment["name"]] if segment["name"] else re.findall(r"'([^']*)'", segment["names"])
    if not isinstance(value, dict):
        return []
    return [(value, name, value[name]) for name in names if name in value]


def _merge(target: dict[str, Any], update: dict[str, Any], where: str) -> None:
    for key, value in update.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            _merge(current, value, f"{where}.{key}")
        elif isinstance(current, list) and isinstance(value, list):
            current.extend(value)
        elif isinstance(current, dict | list):
            raise OverlayError(f"{where}.{key}: cannot replace a {type(current).__name__}")
        else:
            target[key] = value
