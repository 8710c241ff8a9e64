"""CORS preflights of the keyed /v1 routes, answered for the origins `[server] cors_origins` names:
web apps in development calling ojin-local from the browser. The service presumably answers none
(the default is empty); `/v1/public/*` and the storage routes answer any origin on their own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty

from ojin_local.errors import Forbidden
from ojin_local.http.context import services
from ojin_local.http.edge import Input
from ojin_local.http.endpoint import API_KEY_HEADER, REQUEST_ID_HEADER, endpoint
from ojin_local.spec import Operation, operations

bp = Blueprint("cors")

PREFLIGHT_PREFIX = "ojinPreflight"  # the preflight operations of overlays/25-cors.json
ALLOWED_HEADERS = ", ".join(("Content-Type", API_KEY_HEADER, REQUEST_ID_HEADER))
MAX_AGE_SECONDS = "600"


def preflight_for(methods: str) -> Callable[[Request, Input], Awaitable[HTTPResponse]]:
    async def preflight(request: Request, given: Input) -> HTTPResponse:
        origin = request.headers.get("origin")
        allowed = services(request).config.server.cors_origins
        if origin is None or (origin not in allowed and "*" not in allowed):
            raise Forbidden(f"The origin {origin} is not in [server] cors_origins.")
        return empty(
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": methods,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": MAX_AGE_SECONDS,
                "Vary": "Origin",
            }
        )

    return preflight


def _methods_of(preflight: Operation) -> str:
    """The methods the spec has at the preflight's path."""
    found = operations().values()
    return ", ".join(sorted(o.method for o in found if o.path == preflight.path and o != preflight))


for _operation in [o for o in operations().values() if o.operation_id.startswith(PREFLIGHT_PREFIX)]:
    endpoint(bp, _operation.operation_id)(preflight_for(_methods_of(_operation)))
