"""The API contract: the seed OpenAPI document (bundled unchanged) and schema validation against it.

`ojin-rest-v1.json` is a verbatim copy of the real service's spec; never edit it by hand. Local
behaviour is described by `served.py`, which builds the document served at /openapi.json.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from importlib import resources
from typing import TYPE_CHECKING, Any

from ojin_local.errors import field_error

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

SEED_FILENAME = "ojin-rest-v1.json"


@functools.cache
def _seed_text() -> str:
    return resources.files(__package__).joinpath(SEED_FILENAME).read_text(encoding="utf-8")


def seed_spec() -> dict[str, Any]:
    """A fresh copy of the seed document, safe to modify."""
    return json.loads(_seed_text())


class SchemaValidator:
    """Validates JSON values against schemas of one OpenAPI 3.0 document, `$ref`s included.

    Request bodies are checked with readOnly properties neither required nor refused (a client
    may echo them back and they are ignored); responses are checked with readOnly required.
    """

    def __init__(self, spec: dict[str, Any], *, responses: bool = False) -> None:
        self.spec = spec
        self._responses = responses

    @functools.cached_property
    def _root(self) -> Any:
        # Imported on first use: the validator costs ~130 ms of start-up otherwise.
        from openapi_schema_validator import OAS30ReadValidator, OAS30Validator

        cls = OAS30ReadValidator if self._responses else OAS30Validator
        return cls(self.spec, format_checker=cls.FORMAT_CHECKER)

    def warm_up(self) -> None:
        """Pay the import and the first validation (~0.3 s) now, on a background thread after
        start-up, rather than in the first request that has a body."""
        self.component_errors("IdleVideoGenerationRequest", {})

    def component_errors(self, name: str, instance: Any) -> list[dict[str, str]]:
        """Every way `instance` breaks `#/components/schemas/<name>`, as field errors."""
        return self.errors({"$ref": f"#/components/schemas/{name}"}, instance)

    def errors(self, schema: dict[str, Any], instance: Any) -> list[dict[str, str]]:
        """Every way `instance` breaks `schema`, whose `#/...` references point into the spec."""
        return field_errors(self._root.evolve(schema=schema).iter_errors(instance))


def field_errors(found: Iterable[ValidationError], prefix: str = "") -> list[dict[str, str]]:
    """JSON Schema errors as `details.errors` entries, in field order.

    A missing required property is reported at the property, not at the object holding it.
    """
    named = []
    for error in found:
        parts = [prefix] if prefix else []
        parts += [str(p) for p in error.absolute_path]
        if error.validator == "required":
            parts.append(str(error.message).split("'")[1])
        named.append(field_error(".".join(parts) or "(body)", error.message))
    return sorted(named, key=lambda e: e["field"])
