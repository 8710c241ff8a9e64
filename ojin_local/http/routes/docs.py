"""The served spec at /openapi.json and an offline Swagger UI at /docs (no CDN)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, file, html
from swagger_ui_bundle import swagger_ui_path

from ojin_local.errors import NotFound
from ojin_local.http.edge import Input
from ojin_local.http.endpoint import endpoint
from ojin_local.spec import served_text

bp = Blueprint("docs")

DOCS_PAGE = resources.files("ojin_local").joinpath("static/docs.html").read_text("utf-8")
SWAGGER_FILES = {
    name: Path(swagger_ui_path) / name
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
}


@endpoint(bp, "ojinOpenApi")
async def openapi(request: Request, given: Input) -> HTTPResponse:
    return HTTPResponse(served_text(), content_type="application/json")


@endpoint(bp, "ojinDocs")
async def docs(request: Request, given: Input) -> HTTPResponse:
    return html(DOCS_PAGE)


@endpoint(bp, "ojinDocsAsset")
async def docs_static(request: Request, given: Input) -> HTTPResponse:
    name = given.path["name"]
    if name not in SWAGGER_FILES:
        raise NotFound(f"No docs file named {name!r}.")
    return await file(SWAGGER_FILES[name], headers={"Cache-Control": "public, max-age=86400"})
