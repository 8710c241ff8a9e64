"""GET /_ojin/drift on `ojin-local serve`: the route belongs to `ojin-local proxy`.

The served spec documents the proxy's drift report; a server that is not a proxy still routes
it, so that a client which calls it here learns why there is nothing (a documented 404), not
that the route is unknown.
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from ojin_local.errors import NotFound
from ojin_local.http.edge import Input
from ojin_local.http.endpoint import endpoint

bp = Blueprint("drift")


@endpoint(bp, "ojinDrift")
async def not_a_proxy(request: Request, given: Input) -> HTTPResponse:
    raise NotFound(
        "This server is not a proxy: `ojin-local proxy --upstream URL` answers /_ojin/drift.",
        {"proxy_only": True},
    )
