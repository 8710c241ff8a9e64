"""The /v1/assets routes."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from ojin_local.http.context import page_of, principal, services
from ojin_local.http.edge import Input
from ojin_local.http.endpoint import endpoint

bp = Blueprint("assets")


@endpoint(bp, "initiateAssetUpload")
async def initiate_upload(request: Request, given: Input) -> HTTPResponse:
    return json(await services(request).assets.initiate_upload(principal(request), given.body))


@endpoint(bp, "signAssetUploadPart")
async def sign_part(request: Request, given: Input) -> HTTPResponse:
    return json(await services(request).assets.sign_part(principal(request), given.body))


@endpoint(bp, "createAssetRecord")
async def finalize(request: Request, given: Input) -> HTTPResponse:
    asset = await services(request).assets.finalize(principal(request), given.body)
    return json(asset, status=201)


@endpoint(bp, "listAssets")
async def list_assets(request: Request, given: Input) -> HTTPResponse:
    query = given.query
    result = services(request).assets.list(
        principal(request),
        source=query["source"],
        category=query.get("category"),
        name=query.get("name"),
        page=page_of(given),
    )
    return json(result.to_body())


@endpoint(bp, "getAssetById")
async def get_asset(request: Request, given: Input) -> HTTPResponse:
    return json(services(request).assets.get(principal(request), given.path["asset_id"]))


@endpoint(bp, "getAssetDownloadById")
async def download_asset(request: Request, given: Input) -> HTTPResponse:
    asset_id = given.path["asset_id"]
    return json(await services(request).assets.download(principal(request), asset_id))


@endpoint(bp, "deleteAsset")
async def delete_asset(request: Request, given: Input) -> HTTPResponse:
    await services(request).assets.delete(principal(request), given.path["asset_id"])
    return empty()
