"""Admin routes under /_ojin/ (admin key): state that the public API cannot set up by itself."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, ResponseStream, empty, json

from ojin_local.domain.journal import JOURNAL_SIZE
from ojin_local.http.context import services
from ojin_local.http.endpoint import AUTH_ADMIN, endpoint
from ojin_local.http.params import Query, json_body

bp = Blueprint("admin", url_prefix="/_ojin")

REFERENCES = "/model-configs/<model_config_id>/references"
ARCHIVE_NAME = "ojin-local-state.tar.gz"
CHUNK_BYTES = 1024 * 1024


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


@endpoint(bp, "GET", "/state", auth=AUTH_ADMIN, operation="ojinExportState")
async def export_state(request: Request) -> ResponseStream:
    """The archive is made aside first (a consistent snapshot), then streamed from disk."""
    app = services(request)
    scratch = Path(tempfile.mkdtemp(dir=app.config.data_path, prefix=".export-"))
    try:
        await asyncio.to_thread(app.export_state, scratch / ARCHIVE_NAME)
        archive = (scratch / ARCHIVE_NAME).open("rb")
    finally:
        shutil.rmtree(scratch)  # the open file keeps its bytes until it is closed

    async def send(response: ResponseStream) -> None:
        with archive:
            while chunk := await asyncio.to_thread(archive.read, CHUNK_BYTES):
                await response.write(chunk)

    headers = {
        "Content-Disposition": f'attachment; filename="{ARCHIVE_NAME}"',
        "Content-Length": str(os.fstat(archive.fileno()).st_size),
    }
    return ResponseStream(send, content_type="application/gzip", headers=headers)


@endpoint(bp, "PUT", "/state", auth=AUTH_ADMIN, operation="ojinImportState", stream=True)
async def import_state(request: Request) -> HTTPResponse:
    """The body goes to disk as it arrives; nothing changes unless the whole archive checks."""
    app = services(request)
    with tempfile.TemporaryDirectory(dir=app.config.data_path, prefix=".import-") as scratch:
        archive = Path(scratch, ARCHIVE_NAME)
        with archive.open("wb") as out:
            while (chunk := await request.stream.read()) is not None:
                await asyncio.to_thread(out.write, chunk)
        manifest = await asyncio.to_thread(app.import_state, archive)
    return json({"imported": manifest})


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
