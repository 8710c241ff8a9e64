"""JSON Schema validation against the served document, with errors as `details.errors`."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ojin_local.errors import field_error
from ojin_local.spec import served_spec

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError


class SchemaValidator:
    """Validates JSON values against schemas of one OpenAPI 3.0 document, `$ref`s included.

    Request bodies are checked with readOnly properties neither required nor refused (a client
    may echo them back and they are ignored); responses are checked with readOnly required.
    """

    def __init__(self, spec: dict[str, Any] | None = None, *, responses: bool = False) -> None:
        self.spec = spec if spec is not None else served_spec()
        self._responses = responses

    @functools.cached_property
    def _root(self) -> Any:
        # Imported on first use: the validator costs ~130 ms of start-up otherwise.
        from openapi_schema_validator import OAS30ReadValidator, OAS30Validator

        cls = OAS30ReadValidator if self._responses else OAS30Validator
        return cls(self.spec, format_checker=cls.FORMAT_CHECKER)

    def errors(self, schema: dict[str, Any], instance: Any) -> list[dict[str, str]]:
        """Every way `instance` breaks `schema`, whose `#/...` references point into the spec."""
        return field_errors(self._root.evolve(schema=schema).iter_errors(instance))


def field_errors(found: Iterable[ValidationError], prefix: str = "") -> list[dict[str, str]]:
    """JSON Schema errors as `details.errors` entries, in field order.

    Errors are named by the field a client must change: a missing required property, a property
    the object does not have, the first of several properties one of which is required (an
    `anyOf` of `required`s, said in the schema's own description).
    """
    named = []
    for error in found:
        at = [prefix] if prefix else []
        at += [str(p) for p in error.absolute_path]
        for field, message in _named(error):
            named.append(field_error(".".join([*at, *field]) or "(body)", message))
    return sorted(named, key=lambda e: e["field"])


def _named(error: ValidationError) -> list[tuple[list[str], str]]:
    if error.validator == "required":
        return [([str(error.message).split("'")[1]], str(error.message))]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        extra = [name for name in error.instance if name not in known]
        return [([name], "is not a field of this object") for name in extra]
    alternatives = error.validator_value if error.validator == "anyOf" else None
    if alternatives and all(alternative.keys() == {"required"} for alternative in alternatives):
        names = [alternative["required"][0] for alternative in alternatives]
        message = error.schema.get("description") or f"one of {', '.join(names)} is required"
        return [([names[0]], message)]
    return [([], str(error.message))]
