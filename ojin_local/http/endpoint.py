"""Every route is declared with `endpoint`, which finds its operation in the served spec and
wraps its handler in the per-request plumbing: request id, the clock (`domain.clock`),
authentication (as the operation's `security` says), fault injection (`apply_fault`), the
spec-driven check of parameters and body (`edge`), CORS for browser-facing routes (any origin for
the public and storage routes, `[server] cors_origins` for the keyed ones), the one-line access
log and the request journal.

Errors take the other path: Sanic hands them to `http.errors.render_error`, which calls the same
`begin` and `finish`. This replaces Sanic middleware, which costs two signal dispatches per
middleware per request (GET /v1/model-variants went from about 2,500 to 3,000 requests a second).
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from ojin_local.domain import clock
from ojin_local.domain.faults import Fault
from ojin_local.domain.journal import (
    Body,
    JournalEntry,
    body_of,
    public_headers,
    public_query,
)
from ojin_local.errors import ConnectionDropped, Forbidden, InjectedError, Unauthorized
from ojin_local.http.edge import (
    AUTH_ADMIN,
    AUTH_NONE,
    AUTH_OPTIONAL,
    Input,
    RequestCheck,
    SpecError,
)
from ojin_local.logs import AccessLog
from ojin_local.spec import operations
from ojin_local.spec.validation import SchemaValidator

API_PREFIX = "/v1/"  # the spec's routes: where fault rules apply
LOCAL_PREFIX = "/_ojin/"  # local routes are not journaled, except the storage routes clients use
JOURNALED = "/_ojin/storage/"
API_KEY_HEADER = "X-API-Key"
REQUEST_ID_HEADER = "X-Request-Id"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": REQUEST_ID_HEADER,
}
CONFIGURED_CORS_HEADERS = {"Vary": "Origin", "Access-Control-Expose-Headers": REQUEST_ID_HEADER}

access_log = AccessLog("ojin_local.access")
request_bodies = SchemaValidator()
"""Validates every JSON request body; its first use imports the validator (~0.3 s), which
`server.run` pays on a background thread right after start."""

Handler = Callable[[Request, Input], Awaitable[HTTPResponse]]


@dataclass(frozen=True)
class EndpointSettings:
    """What a route needs, kept on the route (`request.route.ctx.endpoint`)."""

    operation: str | None
    cors: bool  # any origin (public and storage routes)
    api: bool = False  # a keyed /v1 route: origins in [server] cors_origins


def endpoint(
    bp: Blueprint,
    operation_id: str,
    *,
    cors: bool = False,
    stream: bool = False,
) -> Callable[[Handler], Handler]:
    """Register `handler` for the operation `operation_id` of the served spec, at its method and
    path. The handler gets the checked `Input`. With `stream`, the handler reads the body
    itself (`request.stream`), after auth. A path parameter marked `x-ojin-slashes` in the spec
    may hold slashes (sent literally or as %2F)."""
    operation = operations()[operation_id]
    check = RequestCheck(operation, request_bodies)
    path = operation.path
    for parameter in operation.parameters:
        if parameter["in"] == "path":
            name = parameter["name"]
            kind = ":path" if parameter.get("x-ojin-slashes") else ""
            path = path.replace("{" + name + "}", f"<{name}{kind}>")
    if "{" in path:
        raise SpecError(
            f"{operation_id}: {path} has a path parameter the operation does not declare"
        )

    def register(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def serve(request: Request, **params: str) -> HTTPResponse:
            begin(request)
            authenticate(request, check.auth)
            if request.path.startswith(API_PREFIX):
                await inject_fault(request, operation_id)
            response = await handler(request, check(request, params))
            finish(request, response)
            return response

        settings = EndpointSettings(operation_id, cors, api=path.startswith(API_PREFIX))
        # error_format given, Sanic does not read and parse each handler's source to guess it
        # (~60 ms of every start; errors are rendered by http.errors anyway).
        bp.add_route(
            serve,
            path,
            methods=[operation.method],
            name=operation_id,
            stream=stream,
            error_format="json",
            ctx_endpoint=settings,
        )
        return serve

    return register


def settings_of(request: Request) -> EndpointSettings | None:
    route = request.route
    return getattr(route.ctx, "endpoint", None) if route is not None else None


def begin(request: Request) -> None:
    """Start the clock and name the request; a sane X-Request-Id from the client is kept."""
    ctx = request.ctx
    if hasattr(ctx, "request_id"):
        return
    ctx.started = time.perf_counter()
    ctx.request_id = request_id_for(request)
    ctx.principal = None
    services = request.app.ctx.services
    services.reloads.refresh()
    clock.enter(services.clock.server())


def request_id_for(request: Request) -> str:
    """The client's X-Request-Id when it is a sane token, else a new one."""
    sent = request.headers.get(REQUEST_ID_HEADER)
    return sent if sent and _CLIENT_REQUEST_ID.match(sent) else os.urandom(16).hex()


async def inject_fault(request: Request, operation_id: str) -> None:
    """What the first fault rule that fires on this request says (domain.faults)."""
    app = request.app.ctx.services
    principal = request.ctx.principal
    namespace_id = principal.namespace_id if principal is not None else None
    rule = app.faults.match(request.method, request.path, operation_id, namespace_id)
    if rule is not None:
        fault = await app.db.write(app.faults.fire, rule)
        if fault is not None:
            await apply_fault(request, fault)


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
    if principal.namespace_id is not None:
        clock.enter(request.app.ctx.services.clock.of_namespace(principal.namespace_id))


async def apply_fault(request: Request, fault: Fault) -> None:
    """What a matching fault rule says: wait, then hang up or answer its error."""
    if fault.latency_ms:
        await asyncio.sleep(fault.latency_ms / 1000)
    if fault.drop_connection:
        request.transport.abort()
        finish(request, HTTPResponse(status=ConnectionDropped.status))  # for the journal
        raise ConnectionDropped
    if fault.status is not None:
        raise InjectedError(fault.status, fault.code or "", fault.message)


def finish(request: Request, response: HTTPResponse) -> None:
    ctx = request.ctx
    request_id = ctx.request_id
    headers = response.headers
    headers[REQUEST_ID_HEADER] = request_id
    settings = settings_of(request)
    if settings is not None:
        if settings.cors:
            headers.update(CORS_HEADERS)
        elif settings.api and "origin" in request.headers:
            allow_configured_origin(request, response)
    elapsed_ms = (time.perf_counter() - ctx.started) * 1000
    method, path, status = request.method, request.path, response.status
    access_log.info(f"{method} {path} {status} {elapsed_ms:.1f}ms {request_id}")
    if path.startswith(JOURNALED) or not path.startswith(LOCAL_PREFIX):
        journal(request, response, settings, round(elapsed_ms, 3))


def allow_configured_origin(request: Request, response: HTTPResponse) -> None:
    origin = request.headers["origin"]
    allowed = request.app.ctx.services.config.server.cors_origins
    if origin in allowed or "*" in allowed:
        response.headers.update(CONFIGURED_CORS_HEADERS)
        response.headers["Access-Control-Allow-Origin"] = origin


def journal(
    request: Request, response: HTTPResponse, settings: EndpointSettings | None, ms: float
) -> None:
    """What the request sent and got, secrets left out (see domain.journal)."""
    principal = request.ctx.principal
    request.app.ctx.services.journal.record(
        JournalEntry(
            time=time.time(),
            method=request.method,
            path=request.path,
            query=public_query(request.query_string),
            operation_id=settings.operation if settings is not None else None,
            status=response.status,
            duration_ms=ms,
            organization_id=principal.organization_id if principal is not None else None,
            namespace_id=principal.namespace_id if principal is not None else None,
            request_id=request.ctx.request_id,
            request_headers=public_headers(request.headers.items()),
            response_headers=response_headers(response),
            request_body=request_body(request),
            response_body=body_of(response.content_type, response.body),
        )
    )


def response_headers(response: HTTPResponse) -> tuple[tuple[str, str], ...]:
    """Sanic adds Content-Type (and Content-Length) as it sends; the journal shows the former."""
    headers = public_headers(response.headers.items())
    if response.content_type and "content-type" not in response.headers:
        headers += (("content-type", response.content_type),)
    return headers


def request_body(request: Request) -> Body:
    """A streamed body (a part PUT, a state import) was read by its handler: only its size."""
    content_type = request.headers.get("content-type")
    if request.body:
        return body_of(content_type, request.body)
    length = request.headers.get("content-length", "")
    return body_of(content_type, None, int(length) if length.isdecimal() else 0)
