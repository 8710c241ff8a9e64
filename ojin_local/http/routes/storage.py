"""Storage routes of the filesystem backend: pre-signed part PUTs and object GET/HEAD, as S3.

The backend's pre-signed URLs point here, so these answer as S3 does for the same requests:
S3's headers, S3's XML errors, CORS for browsers (exposing `ETag`, which a browser needs to
finalize an upload). They are registered with `route`, not `endpoint`, which can neither stream
a request body nor expose more headers than its own; `route` wraps them in the same `begin` and
`finish`. The app registers them only when the backend has an object server (the filesystem
backend; with S3 they do not exist and answer the unknown-route 404).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
from collections.abc import Awaitable, Callable
from email.utils import format_datetime
from urllib.parse import unquote

from sanic import Blueprint, Request
from sanic.exceptions import RequestCancelled
from sanic.response import HTTPResponse
from sanic.server.protocols.base_protocol import current_time

from ojin_local.domain import clock
from ojin_local.errors import S3Error
from ojin_local.http.context import services
from ojin_local.http.endpoint import EndpointSettings, begin, finish
from ojin_local.http.errors import s3_error_response
from ojin_local.storage import MAX_PART_BYTES
from ojin_local.storage.bytestore import ObjectReader, PartWriter
from ojin_local.storage.object_server import ObjectServer
from ojin_local.storage.rules import check_part_number
from ojin_local.storage.signing import (
    NAMESPACE,
    URL_PREFIX,
    check_disposition,
    check_header_value,
)

bp = Blueprint("storage", url_prefix=URL_PREFIX)

OBJECT = "/<key:path>"
SEND_BYTES = 1024 * 1024  # per read and send where sendfile cannot be used
SENDFILE_BYTES = 64 * 1024 * 1024  # at most per sendfile call (one thread hand-off)
_NO_SENDFILE = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP}
BATCH_BYTES = 1024 * 1024  # hashed and written at once; 1-4 MiB ran alike, 1 MiB uses least memory
EMPTY_TYPE = "text/plain; charset=utf-8"  # Sanic would otherwise send "Content-Type: None"
EXPOSED = "ETag, Content-Length, Content-Range, X-Request-Id"
CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSED}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "PUT, GET, HEAD",
    "Access-Control-Max-Age": "3600",
    "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_POOLED_BUFFERS = 8  # body buffers kept between PUTs: 8 MiB at most
_SPARE_BUFFERS: list[bytearray] = []

log = logging.getLogger("ojin_local.errors")

Handler = Callable[[Request, str], Awaitable[HTTPResponse | None]]


def route(
    method: str, operation: str | None = None, *, stream: bool = False
) -> Callable[[Handler], Handler]:
    """Register `handler` for `method` on an object's URL, with `endpoint`'s request id and
    access log. A handler that streams its answer seals it itself and returns None."""

    def register(handler: Handler) -> Handler:
        async def serve(request: Request, key: str) -> HTTPResponse | None:
            begin(request)
            try:
                response = await handler(request, unquote(key))
            except ConnectionError:
                raise
            except OSError as exc:  # the disk failed (full, unreadable): S3's answer for that
                log.error("request %s failed", request.ctx.request_id, exc_info=exc)
                raise S3Error(
                    "InternalError", "We encountered an internal error. Please try again.", 500
                ) from exc
            if response is not None:
                seal(request, response)
            return response

        settings = EndpointSettings(operation, cors=True)
        name = f"object_{method.lower()}"
        bp.add_route(
            serve,
            OBJECT,
            methods=[method],
            name=name,
            stream=stream,
            error_format="text",  # given, so Sanic does not parse the handler's source
            ctx_endpoint=settings,
        )
        return handler

    return register


def seal(request: Request, response: HTTPResponse) -> None:
    """`endpoint`'s finishing touches (request id, access log), then this route's CORS."""
    finish(request, response)
    response.headers.update(CORS_HEADERS)


def object_server(request: Request) -> ObjectServer:
    server = services(request).storage.object_server
    assert server is not None, "the routes are registered only with an object server"
    return server


def verified(request: Request, server: ObjectServer, method: str, key: str) -> dict[str, str]:
    """The URL's parameters, checked by the clock of the namespace it names (see signing)."""
    namespace = request.args.get(NAMESPACE)
    if namespace is not None:
        clock.enter(services(request).clock.of_namespace(namespace))
    return server.verify(method, key, request.get_query_args(keep_blank_values=True))


# Upload a part


@route("PUT", "ojinStoragePutPart", stream=True)
async def put_part(request: Request, key: str) -> HTTPResponse:
    """Checks all it can before reading the body (a refused PUT never waits for its bytes),
    then streams the body to a temp file through `BodyPipe`, with bounded memory."""
    server = object_server(request)
    params = verified(request, server, "PUT", key)
    number = check_part_number(params.get("partNumber"))
    declared = request.headers.get("content-length", "0")
    if declared.isdecimal() and int(declared) > MAX_PART_BYTES:
        raise entity_too_large(int(declared))
    loop = asyncio.get_running_loop()
    upload_id = params.get("uploadId", "")
    writer = await loop.run_in_executor(None, server.open_part, key, upload_id, number)
    try:
        await receive(request, writer)
        part = await loop.run_in_executor(None, writer.commit)
    except BaseException:
        writer.discard()  # waits for a write in flight, at most one batch
        raise
    return HTTPResponse(status=200, headers={"ETag": part.etag}, content_type=EMPTY_TYPE)


async def receive(request: Request, writer: PartWriter) -> None:
    pipe = BodyPipe(writer)
    try:
        if direct_body_possible(request):
            await receive_direct(request, pipe, int(request.headers["content-length"]))
        else:
            received = 0
            while (chunk := await request.stream.read()) is not None:
                received += len(chunk)
                if received > MAX_PART_BYTES:
                    raise entity_too_large(received)
                await pipe.add(chunk)
        await pipe.finish()
    finally:
        pipe.close()


def direct_body_possible(request: Request) -> bool:
    """A body of declared length over plain HTTP/1.1, not waiting for a 100-continue (Sanic
    sends that on its first read)."""
    transport = request.transport
    return (
        request.headers.get("content-length", "").isdecimal()
        and "transfer-encoding" not in request.headers
        and not request.stream.expecting_continue
        and transport.get_extra_info("sslcontext") is None
        and hasattr(transport, "set_protocol")
    )


async def receive_direct(request: Request, pipe: BodyPipe, length: int) -> None:
    """The body read by the kernel straight into the pipe's buffers: `DirectBody` stands in
    for Sanic's protocol on the connection until the declared length has arrived. Sanic's own
    reads copy each byte three times on the event loop (into its buffer, a slice, bytes()) and
    run a signal dispatch per 64 KiB; that loop thread was what bounded part PUTs."""
    transport = request.transport
    sanic_protocol = transport.get_protocol()
    buffered = request.stream.recv_buffer  # what Sanic received past the head
    take = min(len(buffered), length)
    if take:
        await pipe.add(bytes(buffered[:take]))
        del buffered[:take]
    request.stream.request_bytes_left = 0  # Sanic: the body is read
    body = DirectBody(pipe, length - take, sanic_protocol, transport)
    transport.set_protocol(body)
    try:
        while body.left:
            transport.resume_reading()
            await body.batch()
            await pipe.flush()
    finally:
        transport.set_protocol(sanic_protocol)
    await request.stream.read()  # None, and Sanic marks the body consumed


class DirectBody(asyncio.BufferedProtocol):
    """Receives `left` body bytes into the pipe's current buffer; reading pauses when it is
    full (or the body complete) until `receive_direct` has handed it on. Keeps Sanic's
    response-timeout clock running and passes the connection's loss on to Sanic."""

    def __init__(
        self,
        pipe: BodyPipe,
        left: int,
        sanic_protocol: asyncio.BaseProtocol,
        transport: asyncio.Transport,
    ) -> None:
        self.pipe = pipe
        self.left = left
        self.sanic_protocol = sanic_protocol
        self.transport = transport
        self.waiter: asyncio.Future[None] | None = None
        self.lost: BaseException | None = None

    async def batch(self) -> None:
        """Until the current buffer is full or the body complete; ConnectionError if lost."""
        if self.lost is None and not self._full():
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        if self.lost is not None:
            raise self.lost

    def get_buffer(self, sizehint: int) -> memoryview:
        start = self.pipe.used
        return memoryview(self.pipe.buffers[0])[start : start + min(self.left, BATCH_BYTES - start)]

    def buffer_updated(self, nbytes: int) -> None:
        self.pipe.used += nbytes
        self.left -= nbytes
        self.sanic_protocol._time = current_time()  # type: ignore[attr-defined]
        if self._full():
            self.transport.pause_reading()
            self._wake()

    def eof_received(self) -> None:
        self.lost = ConnectionResetError(errno.ECONNRESET, "the body ended early")
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = ConnectionResetError(errno.ECONNRESET, "the client went away")
        self._wake()
        self.sanic_protocol.connection_lost(exc)

    def _full(self) -> bool:
        return self.left == 0 or self.pipe.used == BATCH_BYTES

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class BodyPipe:
    """The body goes through two alternating buffers: while two threads hash and store one
    (hashlib and os.pwrite release the GIL), the other fills. Reusing two buffers rather than
    keeping the received chunks spares an allocation and page faults per chunk (measured: twice
    the throughput); they come from a small pool, so a PUT does not fault in 2 MiB anew."""

    def __init__(self, writer: PartWriter) -> None:
        self.writer = writer
        self.buffers = [_take_buffer(), _take_buffer()]
        self.used = 0
        self.in_flight: asyncio.Future[list[None]] | None = None
        self.view: memoryview | None = None

    async def add(self, chunk: bytes) -> None:
        if self.used + len(chunk) > BATCH_BYTES:
            await self.flush()
        self.buffers[0][self.used : self.used + len(chunk)] = chunk
        self.used += len(chunk)

    async def flush(self) -> None:
        """Hand the filled buffer to the threads (after the previous one is done)."""
        await self.drain()
        if not self.used:
            return
        loop = asyncio.get_running_loop()
        self.view = memoryview(self.buffers[0])[: self.used]
        self.in_flight = asyncio.gather(
            loop.run_in_executor(None, self.writer.hash, self.view),
            loop.run_in_executor(None, self.writer.store, self.view),
        )
        self.buffers.reverse()
        self.used = 0

    async def finish(self) -> None:
        await self.flush()
        await self.drain()

    def close(self) -> None:
        """The buffers go back to the pool, unless a thread may still be using one."""
        if self.in_flight is None:
            _SPARE_BUFFERS.extend(self.buffers[: _POOLED_BUFFERS - len(_SPARE_BUFFERS)])
        self.buffers = []

    async def drain(self) -> None:
        if self.in_flight is not None:
            await self.in_flight
            self.in_flight = None
        if self.view is not None:
            self.view.release()
            self.view = None


def _take_buffer() -> bytearray:
    return _SPARE_BUFFERS.pop() if _SPARE_BUFFERS else bytearray(BATCH_BYTES)


def entity_too_large(size: int) -> S3Error:
    return S3Error(
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
        ProposedSize=str(size),
        MaxSizeAllowed=str(MAX_PART_BYTES),
    )


# Download an object


@route("GET", "ojinStorageGetObject")
async def get_object(request: Request, key: str) -> HTTPResponse | None:
    """HEAD is verified as GET, as by S3-compatible servers (MinIO, Ceph); AWS itself signs the
    method, so there a GET URL answers HEAD with 403."""
    server = object_server(request)
    params = verified(request, server, "GET", key)
    headers = download_headers(params)
    reader = await asyncio.get_running_loop().run_in_executor(None, server.open_object, key)
    try:
        return await answer(request, reader, headers)
    finally:
        reader.close()


route("HEAD")(get_object)


async def answer(
    request: Request, reader: ObjectReader, headers: dict[str, str]
) -> HTTPResponse | None:
    stored = reader.stored
    validators = {
        "ETag": stored.etag,
        "Last-Modified": format_datetime(stored.last_modified, usegmt=True),
    }
    check_if_match(request, stored.etag)
    if etag_matches(request.headers.get("if-none-match"), stored.etag):
        return HTTPResponse(status=304, headers=validators)
    headers = {"Content-Type": stored.content_type, **headers, **validators}
    headers["Accept-Ranges"] = "bytes"
    try:
        span = byte_range(request.headers.get("range"), stored.size)
    except S3Error as exc:
        response = s3_error_response(request, exc)
        response.headers["Content-Range"] = f"bytes */{stored.size}"
        return response
    start, end = span or (0, stored.size - 1)
    headers["Content-Length"] = str(end - start + 1)
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
    status = 200 if span is None else 206
    if request.method == "HEAD":
        return HTTPResponse(status=status, headers=headers)
    await stream(request, reader, status, headers, start, end - start + 1)
    return None


def download_headers(params: dict[str, str]) -> dict[str, str]:
    """The signed response-* overrides, checked again before they become headers."""
    headers = {}
    if "response-content-disposition" in params:
        disposition = params["response-content-disposition"]
        headers["Content-Disposition"] = check_disposition(disposition)
    if "response-content-type" in params:
        content_type = params["response-content-type"]
        headers["Content-Type"] = check_header_value("response-content-type", content_type)
    return headers


def check_if_match(request: Request, etag: str) -> None:
    if_match = request.headers.get("if-match")
    if if_match is not None and not etag_matches(if_match, etag):
        raise S3Error(
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            412,
            Condition="If-Match",
        )


def etag_matches(header: str | None, etag: str) -> bool:
    """An If-Match / If-None-Match list (quoted or not, weak or not, or "*") names `etag`."""
    if header is None:
        return False
    tags = {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")}
    return "*" in tags or etag.strip('"') in tags


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """One `bytes=` range as (first, last), clamped to the object. None means the whole object:
    no header, or one S3 ignores (malformed, several ranges, last before first). A range that
    starts past the end, a zero suffix, or any range of an empty object is 416 InvalidRange."""
    found = _RANGE.fullmatch(header.strip()) if header else None
    if found is None:
        return None
    first, last = found.groups()
    if first:
        start = int(first)
        if last and int(last) < start:
            return None
        end = min(int(last), size - 1) if last else size - 1
        satisfiable = start < size
    elif last:
        start, end = max(size - int(last), 0), size - 1
        satisfiable = int(last) > 0 and size > 0
    else:
        return None
    if not satisfiable:
        raise S3Error(
            "InvalidRange",
            "The requested range is not satisfiable",
            416,
            RangeRequested=header or "",
            ActualObjectSize=str(size),
        )
    return start, end


async def stream(
    request: Request,
    reader: ObjectReader,
    status: int,
    headers: dict[str, str],
    start: int,
    length: int,
) -> None:
    """Send `length` bytes from `start`: by sendfile where the connection allows it, by reads
    (1 MiB at a time, each off the event loop) for whatever is left."""
    response = await request.respond(status=status, headers=headers)
    seal(request, response)
    sent = await send_by_kernel(request, response, reader, start, length)
    loop = asyncio.get_running_loop()
    start, end = start + sent, start + length
    while start < end:
        chunk = await loop.run_in_executor(None, reader.read, start, min(SEND_BYTES, end - start))
        await response.send(chunk)
        start += len(chunk)
    await response.eof()


async def send_by_kernel(
    request: Request, response: HTTPResponse, reader: ObjectReader, start: int, length: int
) -> int:
    """Send what it can by sendfile straight to the connection's socket; returns how many bytes
    went. The kernel copies from the page cache, the event loop only waits for the socket to
    drain. Each call runs in a thread (a part not in the page cache blocks on the disk) on a
    duplicate of the socket's descriptor, so the connection closing meanwhile cannot let it
    write to a reused descriptor. Not possible (0 sent) over TLS, without a socket, while the
    response head is still queued in the transport, or where the kernel refuses (EINVAL)."""
    transport = request.transport
    socket = transport.get_extra_info("socket")
    if socket is None or transport.get_extra_info("sslcontext") or not hasattr(os, "sendfile"):
        return 0
    await response.send(b"")  # the head, through Sanic
    if transport.get_write_buffer_size():
        return 0
    loop = asyncio.get_running_loop()
    fd = os.dup(socket.fileno())
    sent = 0
    try:
        while sent < length:
            if transport.is_closing():
                raise RequestCancelled  # as Sanic's own send does: the client went away
            try:
                done = await loop.run_in_executor(
                    None, reader.send, fd, start + sent, min(SENDFILE_BYTES, length - sent)
                )
            except ConnectionError:
                raise RequestCancelled from None
            except OSError as exc:
                if exc.errno in _NO_SENDFILE:
                    break
                raise
            if done == 0:
                await writable(loop, fd)
            sent += done
    finally:
        os.close(fd)
        request.stream.response_bytes_left -= sent  # bytes Sanic's framing did not see go
    return sent


async def writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready = loop.create_future()
    loop.add_writer(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_writer(fd)


# CORS preflight


@route("OPTIONS")
async def preflight(request: Request, key: str) -> HTTPResponse:
    """Any origin may PUT, GET and HEAD, with whatever headers it asks for, as the S3 backend's
    bucket CORS rule allows."""
    asked = request.headers.get("access-control-request-headers")
    headers = {**PREFLIGHT_HEADERS, "Access-Control-Allow-Headers": asked or "*"}
    return HTTPResponse(status=200, headers=headers, content_type=EMPTY_TYPE)
