"""The one place where every exception becomes an HTTP answer.

Domain errors render as themselves; Sanic's own (unknown route, wrong method, body too large,
malformed request) are translated to the same `ErrorResponse` shape; anything else is a 500 that
logs its traceback under the request id and shows the client only that id.
"""

from __future__ import annotations

import logging
from xml.sax.saxutils import escape

from sanic import Request, Sanic
from sanic import exceptions as sanic_errors
from sanic.response import HTTPResponse, json

from ojin_local import errors
from ojin_local.http.endpoint import begin, finish

log = logging.getLogger("ojin_local.errors")

_BY_STATUS: dict[int, type[errors.ApiError]] = {
    cls.status: cls
    for cls in (
        errors.Unauthorized,
        errors.Forbidden,
        errors.NotFound,
        errors.MethodNotAllowed,
        errors.Conflict,
        errors.PayloadTooLarge,
        errors.UnsupportedMediaType,
        errors.ServiceUnavailable,
    )
}


def as_api_error(request: Request, exc: Exception) -> errors.ApiError:
    if isinstance(exc, errors.ApiError):
        return exc
    if isinstance(exc, sanic_errors.NotFound):
        return errors.NotFound(
            f"No route matches {request.method} {request.path}.", {"path": request.path}
        )
    if isinstance(exc, sanic_errors.MethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods or ()))
        return errors.MethodNotAllowed(
            f"{request.method} is not allowed on {request.path}.",
            {"allowed_methods": sorted(exc.allowed_methods or ())},
            headers={"Allow": allowed},
        )
    if isinstance(exc, sanic_errors.PayloadTooLarge):
        return payload_too_large(request, exc)
    if isinstance(exc, sanic_errors.SanicException) and exc.status_code < 500:
        if exc.status_code in _BY_STATUS:
            return _BY_STATUS[exc.status_code](str(exc))
        return errors.ValidationError(str(exc) or "The request is malformed.", [])
    return errors.InternalError(
        "An unexpected error occurred; the server log has the details under this request id.",
        {"request_id": request_id(request)},
    )


def payload_too_large(request: Request, exc: Exception) -> errors.PayloadTooLarge:
    """Sanic raises one exception for an over-long body and an over-long head (a URL or header
    of kilobytes); the answer names the part that was too large."""
    if "header" in str(exc):
        limit = request.app.config.REQUEST_MAX_HEADER_SIZE
        return errors.PayloadTooLarge(
            f"The request line and headers are larger than {limit} bytes.",
            {"max_header_bytes": limit},
        )
    limit = request.app.config.REQUEST_MAX_SIZE
    return errors.PayloadTooLarge(
        f"The request body is larger than {limit} bytes.", {"max_bytes": limit}
    )


def request_id(request: Request) -> str:
    return request.ctx.request_id


def render_error(request: Request, exc: Exception) -> HTTPResponse:
    begin(request)  # a routing error reaches here before any endpoint began the request
    if isinstance(exc, errors.ConnectionDropped):  # already journaled; the transport is gone
        return HTTPResponse(status=exc.status)
    if isinstance(exc, errors.S3Error):
        response = s3_error_response(request, exc)
        finish(request, response)
        return response
    error = as_api_error(request, exc)
    if isinstance(error, errors.InternalError) and error is not exc:
        log.error("request %s failed", request_id(request), exc_info=exc)
    response = json(error.to_body(), status=error.status, headers=error.headers)
    finish(request, response)
    return response


def s3_error_response(request: Request, error: errors.S3Error) -> HTTPResponse:
    """S3's XML error document, as a client meets it on a pre-signed URL."""
    fields = {
        "Code": error.code,
        "Message": error.message,
        **error.details,
        "Resource": request.path,
        "RequestId": request_id(request),
    }
    body = "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in fields.items())
    document = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{body}</Error>'
    if request.method == "HEAD":  # HEAD answers carry no body, as S3's do
        return HTTPResponse(status=error.status, content_type="application/xml")
    return HTTPResponse(document, status=error.status, content_type="application/xml")


def register(app: Sanic) -> None:
    app.error_handler.add(Exception, render_error)
