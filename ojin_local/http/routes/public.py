"""Unauthenticated routes for the Ojin widget, callable from any origin."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from ojin_local.http.context import services
from ojin_local.http.endpoint import AUTH_NONE, endpoint

bp = Blueprint("public", url_prefix="/v1/public")

PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, OPTIONS",
    "Access-Control-Max-Age": "86400",
}


MODEL_CONFIG = "/model-configs/<model_config_id>"


@endpoint(
    bp,
    "GET",
    MODEL_CONFIG,
    auth=AUTH_NONE,
    cors=True,
    operation="publicGetModelConfigById",
)
async def public_get_model_config(request: Request, model_config_id: str) -> HTTPResponse:
    return json(services(request).model_configs.get_public(model_config_id))


PUBLIC_ASSET = "/assets/<asset_id>"


@endpoint(bp, "GET", PUBLIC_ASSET, auth=AUTH_NONE, cors=True, operation="publicGetAssetById")
async def public_get_asset(request: Request, asset_id: str) -> HTTPResponse:
    return json(await services(request).assets.get_public(asset_id))


async def preflight(request: Request, **_: str) -> HTTPResponse:
    """Answer a CORS preflight, allowing whatever headers the browser asks about."""
    asked = request.headers.get("access-control-request-headers")
    headers = {**PREFLIGHT_HEADERS, "Access-Control-Allow-Headers": asked or "*"}
    return empty(headers=headers)


def allow_preflight(path: str) -> None:
    endpoint(bp, "OPTIONS", path, auth=AUTH_NONE, cors=True)(preflight)


allow_preflight(MODEL_CONFIG)
allow_preflight(PUBLIC_ASSET)
