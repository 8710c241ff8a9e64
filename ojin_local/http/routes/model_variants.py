"""GET /v1/model-variants and /v1/model-variants/{id}; a key is optional on both."""

from __future__ import annotations

from urllib.parse import unquote

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from ojin_local.http.context import services
from ojin_local.http.endpoint import AUTH_OPTIONAL, endpoint
from ojin_local.http.params import Query

bp = Blueprint("model_variants", url_prefix="/v1")


@endpoint(bp, "GET", "/model-variants", auth=AUTH_OPTIONAL, operation="listModelVariants")
async def list_model_variants(request: Request) -> HTTPResponse:
    query = Query(request)
    page = query.page()
    query.check()
    result = services(request).variants.list(
        authenticated=request.ctx.principal is not None,
        model_id=query.text("model_id"),
        status=query.text("status"),
        tags=query.csv("tags"),
        page=page,
    )
    return json(result.to_body())


@endpoint(
    bp,
    "GET",
    "/model-variants/<model_variant_id:path>",
    auth=AUTH_OPTIONAL,
    operation="getModelVariantById",
)
async def get_model_variant(request: Request, model_variant_id: str) -> HTTPResponse:
    """Ids contain slashes; they arrive either literal or percent-encoded (%2F)."""
    variant = services(request).variants.get(
        unquote(model_variant_id), authenticated=request.ctx.principal is not None
    )
    return json(variant)
