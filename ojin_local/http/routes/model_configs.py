"""The /v1/model-configs collection and items."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from ojin_local.http.context import page_of, principal, services
from ojin_local.http.edge import Input
from ojin_local.http.endpoint import endpoint

bp = Blueprint("model_configs")


@endpoint(bp, "listModelConfigs")
async def list_model_configs(request: Request, given: Input) -> HTTPResponse:
    result = services(request).model_configs.list(
        principal(request),
        source=given.query["source"],
        model_variant_id=given.query.get("model_variant_id"),
        page=page_of(given),
    )
    return json(result.to_body())


@endpoint(bp, "createModelConfig")
async def create_model_config(request: Request, given: Input) -> HTTPResponse:
    created = await services(request).model_configs.create(principal(request), given.body)
    return json(created, status=201)


@endpoint(bp, "getModelConfigById")
async def get_model_config(request: Request, given: Input) -> HTTPResponse:
    config_id = given.path["model_config_id"]
    return json(services(request).model_configs.get(principal(request), config_id))


@endpoint(bp, "updateModelConfig")
async def update_model_config(request: Request, given: Input) -> HTTPResponse:
    updated = await services(request).model_configs.update(
        principal(request), given.path["model_config_id"], given.body
    )
    return json(updated)


@endpoint(bp, "deleteModelConfig")
async def delete_model_config(request: Request, given: Input) -> HTTPResponse:
    await services(request).model_configs.delete(
        principal(request), given.path["model_config_id"], given.query.get("referenced_by")
    )
    return empty()
