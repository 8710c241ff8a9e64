"""The one check of each request against its operation in the served spec, at the HTTP edge.

`RequestCheck` is compiled once per operation at start: who may call it (its `security`), its
path and query parameters (types, enums, bounds, formats, patterns, defaults, arrays in the
seed's `form`/`explode: false` style) and its JSON body (strict JSON, then its schema). Handlers
and domain functions receive the result, `Input`, and never see raw text.

Query problems are collected, not raised one by one, so a 400 names every offending parameter.
A path parameter that breaks its schema is a 404: no resource can have that name.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_to_bytes

from sanic import Request

from ojin_local.domain.common import is_uuid
from ojin_local.errors import NotFound, UnsupportedMediaType, ValidationError, field_error
from ojin_local.spec import Operation, resolve
from ojin_local.spec.validation import SchemaValidator

AUTH_NONE = "none"
AUTH_OPTIONAL = "optional"
AUTH_REQUIRED = "required"
AUTH_ADMIN = "admin"
AUTH_BY_SCHEME = {"APIKeyAuth": AUTH_REQUIRED, "OjinAdminKey": AUTH_ADMIN}

MAX_JSON_DEPTH = 64
"""Deeper bodies are refused: no request of the API nests anywhere near this, and the parser,
the schema validator and the database encoder each have a recursion limit of their own."""
_SURROGATE = re.compile("[\ud800-\udfff]")
QUERY_CACHE_ENTRIES = 256  # per operation
_INTEGER = re.compile(r"[+-]?[0-9]+")
# The keywords a parameter's schema may use; anything else is refused at start, not ignored.
_PARAMETER_KEYWORDS = {
    "type", "format", "enum", "default", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "pattern", "items", "description", "example",
    "x-ojin-local",
}  # fmt: skip


class SpecError(ValueError):
    """The served spec says something the edge cannot enforce; raised at start."""


@dataclass(frozen=True, slots=True)
class Input:
    """A request's parameters and body, checked against the spec and typed; absent optional
    parameters without a default are left out."""

    path: dict[str, Any]
    query: dict[str, Any]
    body: Any


def auth_mode(operation: Operation) -> str:
    """What an operation's `security` asks of the caller: nothing (`[]`), a key if one is sent
    (an empty requirement `{}` among others), a key, or an admin key."""
    if not operation.security:
        return AUTH_NONE
    schemes = {name for requirement in operation.security for name in requirement}
    unknown = schemes - AUTH_BY_SCHEME.keys()
    if unknown or len(schemes) > 1:
        raise SpecError(f"{operation.operation_id}: cannot enforce security {operation.security}")
    if {} in operation.security:
        return AUTH_OPTIONAL
    return AUTH_BY_SCHEME[schemes.pop()]


class RequestCheck:
    """Everything the spec says about one operation's requests, ready to apply."""

    def __init__(self, operation: Operation, validator: SchemaValidator) -> None:
        self.auth = auth_mode(operation)
        self.path = {p["name"]: Parameter(p) for p in operation.parameters if p["in"] == "path"}
        self.query = {p["name"]: Parameter(p) for p in operation.parameters if p["in"] == "query"}
        self._defaults = {
            name: p.default for name, p in self.query.items() if p.default is not None
        }
        # Clients repeat the same few query strings; each is parsed and checked once.
        self._query = functools.lru_cache(maxsize=QUERY_CACHE_ENTRIES)(self._query_values)
        self.body = _body_check(operation, validator)

    def __call__(self, request: Request, path: dict[str, str]) -> Input:
        """The checked input; its dicts are shared between requests, so read them only."""
        values, errors = self._query(request.query_string)
        if errors:
            raise ValidationError("Some query parameters are not valid.", errors)
        return Input(
            path=self._path_values(path) if path else {},
            query=values,
            body=self.body(request) if self.body is not None else None,
        )

    def _path_values(self, raw: dict[str, str]) -> dict[str, Any]:
        values = {}
        for name, text in raw.items():
            value, problem = self.path[name].parse(unquote(text))
            if problem is not None:
                raise NotFound(
                    f"Nothing is named {text!r} here: {name} {problem}.", {name: unquote(text)}
                )
            values[name] = value
        return values

    def _query_values(self, query_string: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """The typed values, or the errors naming every parameter that was wrong."""
        if "%" in query_string and not _is_utf8(query_string):
            return {}, [field_error("(query)", "is not UTF-8 once percent-decoded")]
        # `?source=` is a parameter with an empty value, not an absent one: the spec's enums,
        # integers and formats refuse it (Sanic's `args` would drop it silently).
        given: dict[str, list[str]] = {}
        for name, text in parse_qsl(query_string, keep_blank_values=True):
            given.setdefault(name, []).append(text)
        values = dict(self._defaults)
        errors = []
        for name, texts in given.items():
            parameter = self.query.get(name)
            if parameter is None:
                continue  # not a parameter of this operation: ignored, as the service does
            value, problem = parameter.parse_all(texts)
            if problem is not None:
                errors.append(field_error(name, problem))
            else:
                values[name] = value
        errors += [
            field_error(name, "is required")
            for name, p in self.query.items()
            if p.required and name not in given
        ]
        return values, errors


class Parameter:
    """One path or query parameter: text in, a typed value or the reason it is wrong out."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.name = spec["name"]
        self.required = bool(spec.get("required"))
        schema = resolve(spec.get("schema", {}))
        self.is_array = schema.get("type") == "array"
        if self.is_array and (spec.get("style", "form"), spec.get("explode", False)) != (
            "form",
            False,
        ):
            raise SpecError(f"{self.name}: only form, explode false arrays are supported")
        self.default = schema.get("default")
        self._check = _value_check(self.name, resolve(schema["items"]) if self.is_array else schema)

    def parse(self, text: str) -> tuple[Any, str | None]:
        if not self.is_array:
            return self._check(text)
        # A comma-separated list; empty items are dropped.
        values = []
        for item in text.split(","):
            if item.strip():
                value, problem = self._check(item.strip())
                if problem is not None:
                    return None, problem
                values.append(value)
        return values, None

    def parse_all(self, texts: list[str]) -> tuple[Any, str | None]:
        """A parameter given more than once: an array's values are all taken (as generated
        clients send them: `tags=a&tags=b`), anything else is ambiguous."""
        if len(texts) == 1:
            return self.parse(texts[0])
        if not self.is_array:
            return None, f"is given {len(texts)} times; give it once"
        values = []
        for text in texts:
            value, problem = self.parse(text)
            if problem is not None:
                return None, problem
            values += value
        return values, None


def _value_check(name: str, schema: dict[str, Any]) -> Callable[[str], tuple[Any, str | None]]:
    """A function checking one value's text against a scalar schema, built once."""
    unknown = schema.keys() - _PARAMETER_KEYWORDS
    if unknown:
        raise SpecError(f"{name}: the edge does not enforce {sorted(unknown)}")
    kind = schema.get("type", "string")
    convert = _CONVERTERS.get(kind)
    if convert is None:
        raise SpecError(f"{name}: parameters of type {kind} are not supported")
    checks = [make(schema) for keywords, make in _CHECKS if schema.keys() & set(keywords)]

    def check(text: str) -> tuple[Any, str | None]:
        value, problem = convert(text)
        if problem is not None:
            return None, problem
        for rule in checks:
            problem = rule(value)
            if problem is not None:
                return None, problem
        return value, None

    return check


def _integer(text: str) -> tuple[Any, str | None]:
    text = text.strip()
    return (int(text), None) if _INTEGER.fullmatch(text) else (None, "must be an integer")


def _number(text: str) -> tuple[Any, str | None]:
    try:
        value = float(text)
    except ValueError:
        return None, "must be a number"
    return (value, None) if math.isfinite(value) else (None, "must be a finite number")


def _boolean(text: str) -> tuple[Any, str | None]:
    if text in ("true", "false"):
        return text == "true", None
    return None, "must be true or false"


_CONVERTERS: dict[str, Callable[[str], tuple[Any, str | None]]] = {
    "string": lambda text: (text, None),
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
}


def _bounds(schema: dict[str, Any]) -> Callable[[Any], str | None]:
    low, high = schema.get("minimum"), schema.get("maximum")
    low_open = bool(schema.get("exclusiveMinimum"))
    high_open = bool(schema.get("exclusiveMaximum"))

    def within(value: Any) -> str | None:
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if not (too_low or too_high):
            return None
        if low is not None and high is not None:
            return f"must be between {low} and {high}"
        return (
            f"must be {'>' if low_open else '>='} {low}"
            if low is not None
            else (f"must be {'<' if high_open else '<='} {high}")
        )

    return within


def _enum(schema: dict[str, Any]) -> Callable[[Any], str | None]:
    allowed = schema["enum"]
    message = f"must be one of {', '.join(map(str, allowed))}"
    return lambda value: None if value in allowed else message


def _format(schema: dict[str, Any]) -> Callable[[Any], str | None]:
    name = schema["format"]
    if name == "uuid":
        return lambda value: None if is_uuid(value) else "must be a UUID"
    if name in ("int32", "int64", "double", "float"):
        return lambda value: None
    raise SpecError(f"format {name} is not supported in parameters")


def _pattern(schema: dict[str, Any]) -> Callable[[Any], str | None]:
    pattern = re.compile(schema["pattern"])
    return lambda value: None if pattern.search(value) else f"must match {pattern.pattern}"


def _length(schema: dict[str, Any]) -> Callable[[Any], str | None]:
    low, high = schema.get("minLength", 0), schema.get("maxLength")

    def within(value: str) -> str | None:
        if len(value) < low:
            return f"must be at least {low} characters"
        if high is not None and len(value) > high:
            return f"must be at most {high} characters"
        return None

    return within


# The checks a scalar schema can ask for, in the order they run, with the keywords of each.
Rule = Callable[[Any], str | None]
_CHECKS: tuple[tuple[tuple[str, ...], Callable[[dict[str, Any]], Rule]], ...] = (
    (("format",), _format),
    (("enum",), _enum),
    (("minimum", "maximum"), _bounds),
    (("pattern",), _pattern),
    (("minLength", "maxLength"), _length),
)


def _body_check(
    operation: Operation, validator: SchemaValidator
) -> Callable[[Request], Any] | None:
    """The check of a JSON request body, or None when the operation takes none (or streams
    bytes its handler reads itself)."""
    body = operation.request_body
    if body is None or "application/json" not in body.get("content", {}):
        return None
    schema = body["content"]["application/json"]["schema"]
    required = bool(body.get("required"))
    properties = {name: resolve(p) for name, p in resolve(schema).get("properties", {}).items()}
    defaults = {name: prop["default"] for name, prop in properties.items() if "default" in prop}

    def check(request: Request) -> Any:
        value = json_body(request, required=required)
        if value is None and not request.body:
            return None
        errors = validator.errors(schema, value)
        if errors:
            raise ValidationError("The request body is not valid.", errors)
        for name, default in defaults.items():
            value.setdefault(name, copy.deepcopy(default))
        return value

    return check


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
    try:
        unquote_to_bytes(query_string).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
