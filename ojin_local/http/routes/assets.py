"""The /v1/assets routes and the public asset route."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from ojin_local.domain.common import CATEGORIES
from ojin_local.http.context import principal, services
from ojin_local.http.endpoint import endpoint
from ojin_local.http.params import Query, json_body

bp = Blueprint("assets", url_prefix="/v1")

SOURCES = ("org", "template")


@endpoint(bp, "POST", "/assets/initiate-upload", operation="initiateAssetUpload")
async def initiate_upload(request: Request) -> HTTPResponse:
    answer = await services(request).assets.initiate_upload(principal(request), json_body(request))
    return json(answer)


@endpoint(bp, "POST", "/assets/sign-part", operation="signAssetUploadPart")
async def sign_part(request: Request) -> HTTPResponse:
    answer = await services(request).assets.sign_part(principal(request), json_body(request))
    return json(answer)


@endpoint(bp, "POST", "/assets", operation="createAssetRecord")
async def finalize(request: Request) -> HTTPResponse:
    asset = await services(request).assets.finalize(principal(request), json_body(request))
    return json(asset, status=201)


@endpoint(bp, "GET", "/assets", operation="listAssets")
async def list_assets(request: Request) -> HTTPResponse:
    query = Query(request)
    page = query.page()
    source = query.choice("source", SOURCES, "org")
    category = query.choice("category", CATEGORIES, None)
    query.check()
    result = services(request).assets.list(
        principal(request), source=source, category=category, name=query.text("name"), page=page
    )
    return json(result.to_body())


@endpoint(bp, "GET", "/assets/<asset_id>", operation="getAssetById")
async def get_asset(request: Request, asset_id: str) -> HTTPResponse:
    return json(services(request).assets.get(principal(request), asset_id))


@endpoint(bp, "GET", "/assets/<asset_id>/download", operation="getAssetDownloadById")
async def download_asset(request: Request, asset_id: str) -> HTTPResponse:
    return json(await services(request).assets.download(principal(request), asset_id))


@endpoint(bp, "DELETE", "/assets/<asset_id>", operation="deleteAsset")
async def delete_asset(request: Request, asset_id: str) -> HTTPResponse:
    await services(request).assets.delete(principal(request), asset_id)
    return empty()
