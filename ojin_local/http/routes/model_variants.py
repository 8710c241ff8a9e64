"""GET /v1/model-variants and /v1/model-variants/{id}; a key is optional on both."""

from __future__ import annotations

import functools

import orjson
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from ojin_local.domain.common import PageRequest
from ojin_local.domain.model_variants import VariantCatalog
from ojin_local.http.context import page_of, services
from ojin_local.http.edge import Input
from ojin_local.http.endpoint import endpoint

bp = Blueprint("model_variants")


@endpoint(bp, "listModelVariants")
async def list_model_variants(request: Request, given: Input) -> HTTPResponse:
    query = given.query
    body = encoded_listing(
        services(request).variants,
        request.ctx.principal is not None,
        query.get("model_id"),
        query.get("status"),
        tuple(query.get("tags", ())),
        page_of(given),
    )
    return HTTPResponse(body, content_type="application/json")


@functools.lru_cache(maxsize=1024)
def encoded_listing(
    catalog: VariantCatalog,
    authenticated: bool,
    model_id: str | None,
    status: str | None,
    tags: tuple[str, ...],
    page: PageRequest,
) -> bytes:
    """The catalog never changes while the server runs, so each distinct listing is encoded
    once (the busiest route of the API: encoding its ~10 KB page was a tenth of its cost)."""
    result = catalog.list(
        authenticated=authenticated, model_id=model_id, status=status, tags=list(tags), page=page
    )
    return orjson.dumps(result.to_body())


@endpoint(bp, "getModelVariantById")
async def get_model_variant(request: Request, given: Input) -> HTTPResponse:
    """Ids contain slashes (ojin/oris-1.0/fast)."""
    variant = services(request).variants.get(
        given.path["model_variant_id"], authenticated=request.ctx.principal is not None
    )
    return json(variant)
