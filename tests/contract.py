"""Checks every JSON response a test receives against the contract.

A response is validated against the seed spec's schema for its operation and status when the seed
documents that pair; otherwise against the served spec (local routes and statuses the seed leaves
out, each marked x-ojin-local); an error status documented nowhere must still be an
`ErrorResponse`. A success status documented nowhere fails the test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from ojin_local.spec import seed_spec, served_spec
from ojin_local.spec.validation import SchemaValidator

API_PREFIX = "/v1"


class ContractViolation(AssertionError):
    pass


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    spec: dict[str, Any]


def _operations(spec: dict[str, Any], prefix: str) -> list[Operation]:
    found = []
    for template, item in spec["paths"].items():
        local = "servers" in item
        regex = re.sub(r"\{model_variant_id\}", r"(?P<model_variant_id>.+)", template)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        full = ("" if local else prefix) + regex
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                found.append(
                    Operation(method.upper(), template, re.compile(f"^{full}$"), operation)
                )
    # Literal paths before templated ones, so /assets/initiate-upload is not /assets/{asset_id}.
    return sorted(found, key=lambda op: op.template.count("{"))


class Contract:
    def __init__(self) -> None:
        self.seed = seed_spec()
        self.served = served_spec()
        self._seed_ops = _operations(self.seed, API_PREFIX)
        self._served_ops = _operations(self.served, API_PREFIX)
        self._seed_validator = SchemaValidator(self.seed, responses=True)
        self._served_validator = SchemaValidator(self.served, responses=True)
        self.checked = 0

    def check(self, response: httpx.Response) -> None:
        if not response.headers.get("content-type", "").startswith("application/json"):
            return
        method, path = response.request.method, response.request.url.path
        body = response.json()
        status = str(response.status_code)
        for operations, validator in (
            (self._seed_ops, self._seed_validator),
            (self._served_ops, self._served_validator),
        ):
            schema = self._schema(operations, validator.spec, method, path, status)
            if schema is not None:
                self._validate(validator, schema, body, f"{method} {path} -> {status}")
                return
        if response.status_code >= 400:
            error_schema = {"$ref": "#/components/schemas/ErrorResponse"}
            self._validate(self._seed_validator, error_schema, body, f"{method} {path} error")
            return
        raise ContractViolation(f"{method} {path} answered {status}, which no spec documents")

    @staticmethod
    def _schema(
        operations: list[Operation], spec: dict[str, Any], method: str, path: str, status: str
    ) -> dict[str, Any] | None:
        for operation in operations:
            if operation.method == method and operation.pattern.match(path):
                response = operation.spec["responses"].get(status)
                if response is None:
                    return None
                if "$ref" in response:
                    response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
                return response.get("content", {}).get("application/json", {}).get("schema")
        return None

    def _validate(self, validator: SchemaValidator, schema: dict, body: Any, what: str) -> None:
        errors = validator.errors(schema, body)
        if errors:
            raise ContractViolation(f"{what}: response breaks the spec: {errors}")
        self.checked += 1


class ContractTransport(httpx.HTTPTransport):
    """For clients built elsewhere (ojin_local.client): every response is checked, as `Api`
    does with its event hook."""

    def __init__(self, contract: Contract) -> None:
        super().__init__()
        self.contract = contract

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        checked = httpx.Response(
            response.status_code, headers=response.headers, content=response.content,
            request=request,
        )  # fmt: skip
        self.contract.check(checked)
        return checked
