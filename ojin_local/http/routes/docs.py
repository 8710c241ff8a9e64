"""The served spec at /openapi.json and an offline Swagger UI at /docs (no CDN)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, file, html, json, redirect
from swagger_ui_bundle import swagger_ui_path

from ojin_local.errors import NotFound
from ojin_local.http.context import services
from ojin_local.http.endpoint import AUTH_NONE, endpoint

bp = Blueprint("docs")

DOCS_PAGE = resources.files("ojin_local").joinpath("static/docs.html").read_text("utf-8")
SWAGGER_FILES = {
    name: Path(swagger_ui_path) / name
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")
}


@endpoint(bp, "GET", "/openapi.json", auth=AUTH_NONE)
async def openapi(request: Request) -> HTTPResponse:
    return json(services(request).spec)


@endpoint(bp, "GET", "/docs", auth=AUTH_NONE)
async def docs(request: Request) -> HTTPResponse:
    return html(DOCS_PAGE)


@endpoint(bp, "GET", "/docs/static/<name>", auth=AUTH_NONE)
async def docs_static(request: Request, name: str) -> HTTPResponse:
    if name not in SWAGGER_FILES:
        raise NotFound(f"No docs file named {name!r}.")
    return await file(SWAGGER_FILES[name], headers={"Cache-Control": "public, max-age=86400"})


@endpoint(bp, "GET", "/", auth=AUTH_NONE)
async def index(request: Request) -> HTTPResponse:
    return redirect("/docs")
