"""GET /_ojin/health: is the appliance usable, and what is it running on."""

from __future__ import annotations

import asyncio

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from ojin_local.http.context import services
from ojin_local.http.edge import Input
from ojin_local.http.endpoint import endpoint

bp = Blueprint("health")


@endpoint(bp, "ojinHealth")
async def health(request: Request, given: Input) -> HTTPResponse:
    return json(await asyncio.to_thread(services(request).health_report))
