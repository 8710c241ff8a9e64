"""Per-request plumbing: request ids, authentication, CORS on public routes, the access log.

Routes declare what they need through their context: `ctx_auth` (AUTH_REQUIRED unless stated),
`ctx_cors=True` for routes browsers call from any origin, and `ctx_operation` (the spec's
operationId).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from ojin_local.errors import Forbidden, Unauthorized

AUTH_REQUIRED = "required"
AUTH_OPTIONAL = "optional"
AUTH_ADMIN = "admin"
AUTH_NONE = "none"

API_KEY_HEADER = "X-API-Key"
REQUEST_ID_HEADER = "X-Request-Id"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": REQUEST_ID_HEADER,
}

access_log = logging.getLogger("ojin_local.access")


def route_setting(request: Request, name: str, default: object) -> object:
    route = request.route
    return getattr(route.ctx, name, default) if route is not None else default


async def start_request(request: Request) -> None:
    if hasattr(request.ctx, "request_id"):
        return  # Sanic runs request middleware again when it handles an error.
    request.ctx.started = time.perf_counter()
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    request.ctx.request_id = sent if _CLIENT_REQUEST_ID.match(sent) else uuid.uuid4().hex
    request.ctx.principal = None
    if request.route is not None:
        authenticate(request, str(route_setting(request, "auth", AUTH_REQUIRED)))


def authenticate(request: Request, mode: str) -> None:
    if mode == AUTH_NONE:
        return
    key = request.headers.get(API_KEY_HEADER)
    if key is None:
        if mode == AUTH_OPTIONAL:
            return
        raise Unauthorized(f"The {API_KEY_HEADER} header is missing.")
    principal = request.app.ctx.services.keys.resolve(key)
    if principal is None:
        raise Unauthorized(f"The {API_KEY_HEADER} header does not name an active API key.")
    if mode == AUTH_ADMIN and not principal.admin:
        raise Forbidden("This route needs an admin key (admin = true in the config).")
    request.ctx.principal = principal


async def finish_request(request: Request, response: HTTPResponse) -> None:
    request_id = getattr(request.ctx, "request_id", "-")
    response.headers[REQUEST_ID_HEADER] = request_id
    if route_setting(request, "cors", False):
        response.headers.update(CORS_HEADERS)
    started = getattr(request.ctx, "started", None)
    elapsed_ms = (time.perf_counter() - started) * 1000 if started else 0.0
    access_log.info(
        "%s %s %s %.1fms %s", request.method, request.path, response.status, elapsed_ms, request_id
    )


def register(app: Sanic) -> None:
    app.register_middleware(start_request, "request")
    app.register_middleware(finish_request, "response")
