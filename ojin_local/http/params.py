"""Reading query parameters and JSON bodies the way the spec declares them.

Query problems are collected, not raised one by one, so a 400 names every offending parameter.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from sanic import Request

from ojin_local.domain.common import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, PageRequest, is_uuid
from ojin_local.errors import UnsupportedMediaType, ValidationError, field_error

MAX_JSON_DEPTH = 64
"""Deeper bodies are refused: no request of the API nests anywhere near this, and the parser,
the schema validator and the database encoder each have a recursion limit of their own."""
_SURROGATE = re.compile("[\ud800-\udfff]")


class Query:
    def __init__(self, request: Request) -> None:
        # `?source=` is a parameter with an empty value, not an absent one: the spec's enums,
        # integers and formats refuse it (Sanic's `args` would drop it silently).
        self._args = request.get_args(keep_blank_values=True)
        self._errors: list[dict[str, str]] = []
        if not _is_utf8(request.query_string):
            self._errors.append(field_error("(query)", "is not UTF-8 once percent-decoded"))

    def text(self, name: str) -> str | None:
        return self._args.get(name)

    def csv(self, name: str) -> list[str]:
        """A comma-separated list (style form, explode false); empty items are dropped."""
        raw = self._args.get(name)
        return [item.strip() for item in raw.split(",") if item.strip()] if raw else []

    def choice(self, name: str, choices: tuple[str, ...], default: str | None) -> str | None:
        raw = self._args.get(name)
        if raw is None:
            return default
        if raw not in choices:
            self._errors.append(field_error(name, f"must be one of {', '.join(choices)}"))
            return default
        return raw

    def uuid(self, name: str) -> str | None:
        raw = self._args.get(name)
        if raw is not None and not is_uuid(raw):
            self._errors.append(field_error(name, "must be a UUID"))
            return None
        return raw

    def integer(self, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
        raw = self._args.get(name)
        if raw is None:
            return default
        try:
            value = int(raw.strip(), 10)
        except ValueError:
            self._errors.append(field_error(name, "must be an integer"))
            return default
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            self._errors.append(field_error(name, f"must be {bounds}"))
            return default
        return value

    def page(self) -> PageRequest:
        return PageRequest(
            limit=self.integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
            offset=self.integer("offset", 0, 0, MAX_OFFSET),
        )

    def check(self) -> None:
        """Raise one 400 naming every parameter that was wrong."""
        if self._errors:
            raise ValidationError("Some query parameters are not valid.", self._errors)


def json_body(request: Request, *, required: bool = True) -> Any:
    """The parsed JSON body; a body sent without a Content-Type is read as JSON too."""
    if not request.body:
        if required:
            raise ValidationError(
                "A JSON request body is required.", [field_error("(body)", "is missing")]
            )
        return None
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"Expected an application/json body, got {content_type!r}.",
            {"content_type": content_type},
        )
    try:
        text = request.body.decode("utf-8").removeprefix("\ufeff")
        body = json.loads(text, parse_constant=_reject_constant)
        _check_json(body)
    except RecursionError as exc:
        raise _invalid_json(f"nested deeper than {MAX_JSON_DEPTH} levels") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise _invalid_json(str(exc)) from exc
    return body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _check_json(value: Any) -> None:
    """Refuse what Python's parser accepts but JSON (RFC 8259) or our storage cannot carry:
    nesting past MAX_JSON_DEPTH, lone surrogates (\\ud800: not Unicode, SQLite cannot store
    them) and numbers that overflow to infinity (1e999)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, str) and _SURROGATE.search(item):
            raise ValueError(f"a string holds a lone surrogate: {item!r}"[:200])
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError("a number is too large to represent")


def _invalid_json(reason: str) -> ValidationError:
    return ValidationError("The request body is not valid JSON.", [field_error("(body)", reason)])


def _is_utf8(query_string: str) -> bool:
    if "%" not in query_string:
        return True
    try:
        unquote_to_bytes(query_string).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
