"""Unauthenticated routes for the Ojin widget, callable from any origin."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from ojin_local.http.context import services
from ojin_local.http.edge import Input
from ojin_local.http.endpoint import endpoint

bp = Blueprint("public")

PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, OPTIONS",
    "Access-Control-Max-Age": "86400",
}


@endpoint(bp, "publicGetModelConfigById", cors=True)
async def public_get_model_config(request: Request, given: Input) -> HTTPResponse:
    config_id = given.path["model_config_id"]
    return json(services(request).model_configs.get_public(config_id))


@endpoint(bp, "publicGetAssetById", cors=True)
async def public_get_asset(request: Request, given: Input) -> HTTPResponse:
    return json(await services(request).assets.get_public(given.path["asset_id"]))


async def preflight(request: Request, given: Input) -> HTTPResponse:
    """Answer a CORS preflight, allowing whatever headers the browser asks about."""
    asked = request.headers.get("access-control-request-headers")
    headers = {**PREFLIGHT_HEADERS, "Access-Control-Allow-Headers": asked or "*"}
    return empty(headers=headers)


endpoint(bp, "ojinPublicModelConfigPreflight", cors=True)(preflight)
endpoint(bp, "ojinPublicAssetPreflight", cors=True)(preflight)
