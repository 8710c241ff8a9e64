"""The proxy's Sanic app: everything under /v1 forwarded and checked, and GET /_ojin/drift.

The proxy is not an endpoint per operation: one streamed catch-all forwards any method and path
under /v1 (undocumented ones too, which are drift themselves), finds the seed operation by method
and path template, and checks the exchange once the answer has passed. Its own errors (upstream
unreachable or too slow) are `ErrorResponse`s; it holds no key and keeps none.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
from sanic import Blueprint, Request, Sanic
from sanic.compat import Header
from sanic.response import HTTPResponse, json

from ojin_local.http.edge import RequestCheck
from ojin_local.http.endpoint import REQUEST_ID_HEADER, access_log, request_bodies, request_id_for
from ojin_local.http.errors import as_api_error
from ojin_local.proxy.drift import NO_OPERATION, DriftLog, Sent, seed
from ojin_local.proxy.forward import NO_BODY_STATUSES, Exchange, Forwarder, end_to_end
from ojin_local.proxy.har import HarWriter
from ojin_local.server import serve_forever, stop_on_signals
from ojin_local.spec import operations

log = logging.getLogger("ojin_local.proxy")

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
CHECKED_BODY_BYTES = 8 * 1024 * 1024
"""Bodies up to this size are kept for the check (JSON answers of the API are far smaller);
a larger one is checked for its status and content type only."""


@dataclass(frozen=True)
class ProxySettings:
    upstream: str
    timeout: float
    record: Path | None
    body_cap: int


@dataclass
class Proxy:
    """What the routes share: the upstream's pool, the drift log, the recording."""

    forwarder: Forwarder
    drift: DriftLog
    recording: HarWriter | None


bp = Blueprint("proxy")
DRIFT = operations()["ojinDrift"]
DRIFT_CHECK = RequestCheck(DRIFT, request_bodies)


def begin(request: Request) -> None:
    """Name the request (the client's sane X-Request-Id is kept), as the API's routes do;
    `endpoint`'s plumbing (keys, faults, the journal) belongs to `ojin-local serve`."""
    if not hasattr(request.ctx, "request_id"):
        request.ctx.request_id = request_id_for(request)


async def drift_report(request: Request) -> HTTPResponse:
    begin(request)
    DRIFT_CHECK(request, {})
    response = json(proxy_of(request).drift.report())
    response.headers[REQUEST_ID_HEADER] = request.ctx.request_id
    access_log.info(f"{request.method} {request.path} 200 {request.ctx.request_id}")
    return response


# At the method and path the served spec gives the operation, which documents it.
bp.add_route(
    drift_report, DRIFT.path, methods=[DRIFT.method], name=DRIFT.operation_id, error_format="json"
)


@bp.route("/v1/<rest:path>", methods=METHODS, stream=True, name="forward", error_format="json")
async def forward(request: Request, rest: str) -> HTTPResponse | None:
    begin(request)
    proxy = proxy_of(request)
    try:
        exchange, response = await proxy.forwarder.open(request)
    except Exception:
        proxy.drift.upstream_errors += 1
        raise
    headers = Header(end_to_end(exchange.response_headers))
    # The exchange is checked and recorded before its last chunk goes out, so a client that
    # has its whole answer finds it in /_ojin/drift and in the recording.
    try:
        if request.method == "HEAD" or exchange.status in NO_BODY_STATUSES:
            async for _ in proxy.forwarder.relay(exchange, response):
                pass
            done(request, proxy, exchange)
            await request.respond(HTTPResponse(status=exchange.status, headers=headers))
            return None
        answer = await request.respond(status=exchange.status, headers=headers)
        held: bytes | None = None
        try:
            async for chunk in proxy.forwarder.relay(exchange, response):
                if held is not None:
                    await answer.send(held)
                held = chunk
        except httpx.TransportError as exc:
            # The status is sent already: the one honest signal left is a cut connection.
            proxy.drift.upstream_errors += 1
            log.warning("%s %s: the upstream's body broke off: %r", request.method,
                        request.path, exc)  # fmt: skip
            request.transport.abort()
            return None
        done(request, proxy, exchange)
        if held is not None:
            await answer.send(held)
        await answer.eof()
        return None
    finally:
        if not exchange.checked:  # the client hung up (Sanic cancels the handler) or worse
            done(request, proxy, exchange)
        await response.aclose()


def done(request: Request, proxy: Proxy, exchange: Exchange) -> None:
    """Check the exchange against the seed, log it, record it."""
    exchange.checked = True
    request_id = exchange.header(REQUEST_ID_HEADER) or request.ctx.request_id
    if not exchange.complete:
        log.warning("%s %s: not checked, the answer did not pass whole (%s)", request.method,
                    request.path, request_id)  # fmt: skip
        return
    proxy.drift.exchanges += 1
    found = seed().match(request.method, request.path)
    if found is None:
        proxy.drift.add(None, request.method, request.path, [NO_OPERATION], request_id)
    else:
        operation, path = found
        violations = []
        body = exchange.request_body.data
        if body is not None:
            sent = Sent(request.query_string, {k.lower(): v for k, v in request.headers.items()},
                        body)  # fmt: skip
            violations += seed().check_request(operation, sent, path)
        assert exchange.response_body is not None
        violations += seed().check_response(
            operation,
            exchange.status,
            exchange.header("content-type"),
            exchange.header("content-encoding"),
            exchange.response_body.data,
            exchange.response_body.size,
        )
        proxy.drift.add(operation, request.method, request.path, violations, request_id)
    if proxy.recording is not None:
        proxy.recording.add(exchange)
    elapsed = (exchange.ended_at or exchange.clock) - exchange.clock
    access_log.info(
        f"{request.method} {request.path} {exchange.status} {elapsed * 1000:.1f}ms {request_id}"
    )


def proxy_of(request: Request) -> Proxy:
    return request.app.ctx.proxy


def render_error(request: Request, exc: Exception) -> HTTPResponse:
    """The proxy's own answers: 502 and 504 for the upstream, Sanic's routing errors."""
    begin(request)
    error = as_api_error(request, exc)
    if error is not exc and error.status >= 500:
        log.error("request %s failed", request.ctx.request_id, exc_info=exc)
    response = json(error.to_body(), status=error.status, headers=error.headers)
    response.headers[REQUEST_ID_HEADER] = request.ctx.request_id
    access_log.info(f"{request.method} {request.path} {error.status} {request.ctx.request_id}")
    if error.status in (502, 504):
        log.warning("%s %s: %s", request.method, request.path, error.message)
    return response


def create_proxy_app(settings: ProxySettings) -> Sanic:
    app = Sanic("ojin_local_proxy", configure_logging=False, dumps=orjson.dumps)
    app.config.update(
        ACCESS_LOG=False,
        MOTD=False,
        TOUCHUP=True,
        FALLBACK_ERROR_FORMAT="json",
        # Sanic's own clock on a handler must not cut a slow upstream short of --timeout.
        RESPONSE_TIMEOUT=settings.timeout + 5,
        REQUEST_TIMEOUT=settings.timeout + 5,
    )
    app.blueprint(bp)
    app.error_handler.add(Exception, render_error)

    @app.before_server_start
    async def open_proxy(app: Sanic) -> None:
        seed()  # compiled before the first request, not during it
        recording = (
            HarWriter(settings.record, settings.upstream, settings.body_cap)
            if settings.record is not None
            else None
        )
        forwarder = Forwarder(
            settings.upstream, settings.timeout, max(settings.body_cap, CHECKED_BODY_BYTES)
        )
        app.ctx.proxy = Proxy(forwarder, DriftLog(settings.upstream), recording)

    @app.after_server_stop
    async def close_proxy(app: Sanic) -> None:
        proxy: Proxy = app.ctx.proxy
        await proxy.forwarder.close()
        if proxy.recording is not None:
            proxy.recording.close()

    return app


def run_proxy(
    settings: ProxySettings,
    listener: socket.socket,
    announce: Callable[[], None],
    summary: Callable[[str], None],
) -> None:
    """Serve until SIGINT or SIGTERM, then hand the drift summary to `summary`."""
    app = create_proxy_app(settings)

    @app.after_server_start
    async def ready(app: Sanic) -> None:
        stop_on_signals(app)
        announce()

    @app.after_server_stop
    async def report(app: Sanic) -> None:
        summary(app.ctx.proxy.drift.summary())

    serve_forever(app, listener)
