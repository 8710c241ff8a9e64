"""Admin routes under /_ojin/ (admin key): state that the public API cannot set up by itself."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, ResponseStream, empty, json

from ojin_local.errors import NotFound
from ojin_local.http.context import services
from ojin_local.http.edge import Input
from ojin_local.http.endpoint import endpoint

bp = Blueprint("admin")

ARCHIVE_NAME = "ojin-local-state.tar.gz"
CHUNK_BYTES = 1024 * 1024


@endpoint(bp, "ojinListModelConfigReferences")
async def list_references(request: Request, given: Input) -> HTTPResponse:
    config_id = given.path["model_config_id"]
    return json({"data": services(request).model_configs.list_references(config_id)})


@endpoint(bp, "ojinAddModelConfigReference")
async def add_reference(request: Request, given: Input) -> HTTPResponse:
    app = services(request)
    body = given.body or {}
    reference = await app.db.write(
        app.model_configs.add_reference, given.path["model_config_id"], body.get("agent_config_id")
    )
    return json(reference, status=201)


@endpoint(bp, "ojinRemoveModelConfigReference")
async def remove_reference(request: Request, given: Input) -> HTTPResponse:
    app = services(request)
    path = given.path
    await app.db.write(
        app.model_configs.remove_reference, path["model_config_id"], path["agent_config_id"]
    )
    return empty()


# State


@endpoint(bp, "ojinReset")
async def reset(request: Request, given: Input) -> HTTPResponse:
    await asyncio.to_thread(services(request).reset)
    return empty()


@endpoint(bp, "ojinExportState")
async def export_state(request: Request, given: Input) -> ResponseStream:
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


@endpoint(bp, "ojinImportState", stream=True)
async def import_state(request: Request, given: Input) -> HTTPResponse:
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


@endpoint(bp, "ojinAddFault")
async def add_fault(request: Request, given: Input) -> HTTPResponse:
    app = services(request)
    namespace_id = given.body.get("namespace_id")
    if namespace_id is not None and not app.namespaces.exists(namespace_id):
        raise NotFound(f"Namespace {namespace_id} was not found.", {"namespace_id": namespace_id})
    return json(await app.db.write(app.faults.add, given.body), status=201)


@endpoint(bp, "ojinListFaults")
async def list_faults(request: Request, given: Input) -> HTTPResponse:
    return json({"data": services(request).faults.list()})


@endpoint(bp, "ojinClearFaults")
async def clear_faults(request: Request, given: Input) -> HTTPResponse:
    app = services(request)
    await app.db.write(app.faults.clear)
    return empty()


@endpoint(bp, "ojinRemoveFault")
async def remove_fault(request: Request, given: Input) -> HTTPResponse:
    app = services(request)
    await app.db.write(app.faults.remove, given.path["fault_id"])
    return empty()


# Request journal


@endpoint(bp, "ojinListRequests")
async def list_requests(request: Request, given: Input) -> HTTPResponse:
    query = given.query
    entries = services(request).journal.query(
        method=query.get("method"),
        path=query.get("path"),
        operation_id=query.get("operation_id"),
        status=query.get("status"),
        organization_id=query.get("organization_id"),
        namespace_id=query.get("namespace_id"),
        limit=query["limit"],
    )
    return json({"data": entries})


@endpoint(bp, "ojinGetRequest")
async def get_request(request: Request, given: Input) -> HTTPResponse:
    request_id = given.path["request_id"]
    entry = services(request).journal.get(request_id)
    if entry is None:
        raise NotFound(f"No request {request_id} in the journal.", {"request_id": request_id})
    return json(entry)


@endpoint(bp, "ojinClearRequests")
async def clear_requests(request: Request, given: Input) -> HTTPResponse:
    services(request).journal.clear()
    return empty()
