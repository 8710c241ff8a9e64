"""Reading query parameters and JSON bodies the way the spec declares them.

Query problems are collected, not raised one by one, so a 400 names every offending parameter.
"""

from __future__ import annotations

import json
from typing import Any

from sanic import Request

from ojin_local.domain.common import DEFAULT_LIMIT, MAX_LIMIT, PageRequest, is_uuid
from ojin_local.errors import UnsupportedMediaType, ValidationError, field_error


class Query:
    def __init__(self, request: Request) -> None:
        self._args = request.args
        self._errors: list[dict[str, str]] = []

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
            offset=self.integer("offset", 0, 0),
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
        return json.loads(request.body, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(
            "The request body is not valid JSON.", [field_error("(body)", str(exc))]
        ) from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
