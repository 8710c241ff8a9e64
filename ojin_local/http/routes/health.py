"""GET /_ojin/health: is the appliance usable, and what is it running on."""

from __future__ import annotations

import asyncio

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from ojin_local.domain.health import health_report
from ojin_local.http.context import services
from ojin_local.http.endpoint import AUTH_NONE, endpoint

bp = Blueprint("health", url_prefix="/_ojin")


@endpoint(bp, "GET", "/health", auth=AUTH_NONE, operation="ojinHealth")
async def health(request: Request) -> HTTPResponse:
    return json(await asyncio.to_thread(health_report, services(request)))
