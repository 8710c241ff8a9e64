"""Admin routes under /_ojin/ (admin key): state that the public API cannot set up by itself."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from ojin_local.http.context import services
from ojin_local.http.endpoint import AUTH_ADMIN, endpoint
from ojin_local.http.params import json_body

bp = Blueprint("admin", url_prefix="/_ojin")

REFERENCES = "/model-configs/<model_config_id>/references"


@endpoint(bp, "GET", REFERENCES, auth=AUTH_ADMIN, operation="ojinListModelConfigReferences")
async def list_references(request: Request, model_config_id: str) -> HTTPResponse:
    return json({"data": services(request).model_configs.list_references(model_config_id)})


@endpoint(bp, "POST", REFERENCES, auth=AUTH_ADMIN, operation="ojinAddModelConfigReference")
async def add_reference(request: Request, model_config_id: str) -> HTTPResponse:
    app = services(request)
    body = json_body(request, required=False)
    reference = await app.db.write(
        app.model_configs.add_reference, model_config_id, {} if body is None else body
    )
    return json(reference, status=201)


@endpoint(
    bp,
    "DELETE",
    REFERENCES + "/<agent_config_id>",
    auth=AUTH_ADMIN,
    operation="ojinRemoveModelConfigReference",
)
async def remove_reference(
    request: Request, model_config_id: str, agent_config_id: str
) -> HTTPResponse:
    app = services(request)
    await app.db.write(app.model_configs.remove_reference, model_config_id, agent_config_id)
    return empty()
