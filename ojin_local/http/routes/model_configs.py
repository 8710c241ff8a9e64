"""The /v1/model-configs collection and items."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from ojin_local.http.context import principal, services
from ojin_local.http.endpoint import endpoint
from ojin_local.http.params import Query, json_body

bp = Blueprint("model_configs", url_prefix="/v1")

SOURCES = ("org", "template")


@endpoint(bp, "GET", "/model-configs", operation="listModelConfigs")
async def list_model_configs(request: Request) -> HTTPResponse:
    query = Query(request)
    page = query.page()
    source = query.choice("source", SOURCES, "org")
    query.check()
    result = services(request).model_configs.list(
        principal(request),
        source=source,
        model_variant_id=query.text("model_variant_id"),
        page=page,
    )
    return json(result.to_body())


@endpoint(bp, "POST", "/model-configs", operation="createModelConfig")
async def create_model_config(request: Request) -> HTTPResponse:
    app = services(request)
    body = json_body(request)
    created = await app.db.write(app.model_configs.create, principal(request), body)
    return json(created, status=201)


@endpoint(bp, "GET", "/model-configs/<model_config_id>", operation="getModelConfigById")
async def get_model_config(request: Request, model_config_id: str) -> HTTPResponse:
    return json(services(request).model_configs.get(principal(request), model_config_id))


@endpoint(bp, "PUT", "/model-configs/<model_config_id>", operation="updateModelConfig")
async def update_model_config(request: Request, model_config_id: str) -> HTTPResponse:
    app = services(request)
    body = json_body(request)
    updated = await app.db.write(
        app.model_configs.update, principal(request), model_config_id, body
    )
    return json(updated)


@endpoint(bp, "DELETE", "/model-configs/<model_config_id>", operation="deleteModelConfig")
async def delete_model_config(request: Request, model_config_id: str) -> HTTPResponse:
    app = services(request)
    query = Query(request)
    referenced_by = query.uuid("referenced_by")
    query.check()
    await app.db.write(app.model_configs.delete, principal(request), model_config_id, referenced_by)
    return empty()
