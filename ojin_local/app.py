"""The app factory: one Sanic app wired to already-opened services."""

from __future__ import annotations

import orjson
from sanic import Sanic

from ojin_local.http import errors
from ojin_local.http.endpoint import request_bodies
from ojin_local.http.routes import (
    admin,
    assets,
    console,
    cors,
    docs,
    drift,
    health,
    jobs,
    model_configs,
    model_variants,
    namespaces,
    public,
    storage,
)
from ojin_local.services import Services

BLUEPRINTS = (
    model_variants.bp,
    model_configs.bp,
    assets.bp,
    jobs.bp,
    public.bp,
    cors.bp,
    admin.bp,
    namespaces.bp,
    health.bp,
    docs.bp,
    drift.bp,
    console.bp,
)


def create_app(services: Services, name: str = "ojin_local") -> Sanic:
    # orjson encodes a page of variants in ~10 us where Sanic's default (ujson) takes ~60 us.
    app = Sanic(name, configure_logging=False, dumps=orjson.dumps)
    app.config.update(
        REQUEST_MAX_SIZE=services.config.server.max_body_bytes,
        ACCESS_LOG=False,
        MOTD=False,
        # Sanic's touch-up rewrites its request cycle at start: it drops the dispatch of every
        # signal nothing listens to (a quarter of a request's time) and the empty `alt-svc`
        # header. The single binary ships Sanic's sources so that it can (packaging/).
        TOUCHUP=True,
        FALLBACK_ERROR_FORMAT="json",
    )
    app.ctx.services = services
    for blueprint in BLUEPRINTS:
        app.blueprint(blueprint)
    if services.storage.object_server is not None:  # the filesystem backend's URLs lead here
        app.blueprint(storage.bp)
    errors.register(app)
    return app


def warm_up() -> None:
    """Pay the JSON Schema validator's import and first use (~0.3 s) now, on a background
    thread after start, rather than in the first request that has a body."""
    request_bodies.errors({"type": "object"}, {})
