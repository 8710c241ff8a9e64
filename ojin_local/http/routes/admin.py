"""Admin routes under /_ojin/ (admin key): state that the public API cannot set up by itself."""

from __future__ import annotations

import asyncio

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from ojin_local.domain.journal import JOURNAL_SIZE
from ojin_local.http.context import services
from ojin_local.http.endpoint import AUTH_ADMIN, endpoint
from ojin_local.http.params import Query, json_body

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


# State


@endpoint(bp, "POST", "/reset", auth=AUTH_ADMIN, operation="ojinReset")
async def reset(request: Request) -> HTTPResponse:
    await asyncio.to_thread(services(request).reset)
    return empty()


# Fault injection


@endpoint(bp, "POST", "/faults", auth=AUTH_ADMIN, operation="ojinAddFault")
async def add_fault(request: Request) -> HTTPResponse:
    return json(services(request).faults.add(json_body(request)), status=201)


@endpoint(bp, "GET", "/faults", auth=AUTH_ADMIN, operation="ojinListFaults")
async def list_faults(request: Request) -> HTTPResponse:
    return json({"data": services(request).faults.list()})


@endpoint(bp, "DELETE", "/faults", auth=AUTH_ADMIN, operation="ojinClearFaults")
async def clear_faults(request: Request) -> HTTPResponse:
    services(request).faults.clear()
    return empty()


@endpoint(bp, "DELETE", "/faults/<fault_id>", auth=AUTH_ADMIN, operation="ojinRemoveFault")
async def remove_fault(request: Request, fault_id: str) -> HTTPResponse:
    services(request).faults.remove(fault_id)
    return empty()


# Request journal


@endpoint(bp, "GET", "/requests", auth=AUTH_ADMIN, operation="ojinListRequests")
async def list_requests(request: Request) -> HTTPResponse:
    query = Query(request)
    status = query.integer("status", 0, 100, 599)
    limit = query.integer("limit", 100, 1, JOURNAL_SIZE)
    query.check()
    entries = services(request).journal.query(
        method=query.text("method"),
        path=query.text("path"),
        operation_id=query.text("operation_id"),
        status=status or None,
        organization_id=query.text("organization_id"),
        limit=limit,
    )
    return json({"data": entries})


@endpoint(bp, "DELETE", "/requests", auth=AUTH_ADMIN, operation="ojinClearRequests")
async def clear_requests(request: Request) -> HTTPResponse:
    services(request).journal.clear()
    return empty()
