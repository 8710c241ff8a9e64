"""GET /v1/model-variants and /v1/model-variants/{id}; a key is optional on both."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from ojin_local.http.context import page_of, services
from ojin_local.http.edge import Input
from ojin_local.http.endpoint import endpoint

bp = Blueprint("model_variants")


@endpoint(bp, "listModelVariants")
async def list_model_variants(request: Request, given: Input) -> HTTPResponse:
    query = given.query
    result = services(request).variants.list(
        authenticated=request.ctx.principal is not None,
        model_id=query.get("model_id"),
        status=query.get("status"),
        tags=query.get("tags", []),
        page=page_of(given),
    )
    return json(result.to_body())


@endpoint(bp, "getModelVariantById", slashes_in=["model_variant_id"])
async def get_model_variant(request: Request, given: Input) -> HTTPResponse:
    """Ids contain slashes (ojin/oris-1.0/fast)."""
    variant = services(request).variants.get(
        given.path["model_variant_id"], authenticated=request.ctx.principal is not None
    )
    return json(variant)
