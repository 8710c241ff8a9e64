"""Every error the API can answer with, as one exception hierarchy.

Domain code raises these; `ojin_local.http.errors` renders them, and only there. Each class carries
the HTTP status and the stable machine code a client can branch on.
"""

from __future__ import annotations

from typing import Any, ClassVar


class OjinError(Exception):
    """Root of every error ojin-local answers with; `http.errors` renders each kind."""


class ApiError(OjinError):
    """An error answered as the spec's `ErrorResponse` JSON: {code, message, details}."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(
        self,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}

    def to_body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ValidationError(ApiError):
    status = 400
    code = "VALIDATION_ERROR"

    def __init__(self, message: str, errors: list[dict[str, str]], **details: Any) -> None:
        super().__init__(message, {"errors": errors, **details})


class Unauthorized(ApiError):
    status = 401
    code = "UNAUTHORIZED"


class Forbidden(ApiError):
    status = 403
    code = "FORBIDDEN"


class NotFound(ApiError):
    status = 404
    code = "RESOURCE_NOT_FOUND"


class MethodNotAllowed(ApiError):
    status = 405
    code = "METHOD_NOT_ALLOWED"


class Conflict(ApiError):
    status = 409
    code = "CONFLICT"


class PayloadTooLarge(ApiError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class ServiceUnavailable(ApiError):
    status = 503
    code = "SERVICE_UNAVAILABLE"


class InternalError(ApiError):
    status = 500
    code = "INTERNAL_ERROR"


class BadGateway(ApiError):
    """`ojin-local proxy`: the upstream could not be reached (refused, DNS, TLS, reset)."""

    status = 502
    code = "BAD_GATEWAY"


class GatewayTimeout(ApiError):
    """`ojin-local proxy`: the upstream did not answer within the proxy's timeout."""

    status = 504
    code = "GATEWAY_TIMEOUT"


class InjectedError(ApiError):
    """An error a fault rule (POST /_ojin/faults) told a route to answer with."""

    def __init__(self, status: int, code: str, message: str | None) -> None:
        super().__init__(message or f"Injected fault: {code}.", {"injected": True})
        self.status = status  # type: ignore[misc]
        self.code = code  # type: ignore[misc]


class ConnectionDropped(OjinError):
    """A fault rule cut the connection; nothing is answered (the journal shows status 444,
    nginx's "closed without response")."""

    status: ClassVar[int] = 444


class S3Error(OjinError):
    """An error of the storage layer, with S3's own code and status.

    On the storage routes it is answered as S3's XML `<Error>`, because that is what a client
    meets on pre-signed URLs in production; the API routes translate it (e.g. finalize → 400).
    """

    def __init__(self, code: str, message: str, status: int = 400, **details: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details


class JobFailure(OjinError):
    """A job that cannot succeed however often it is tried; it ends `failed` with this error.

    Any other exception in a job is taken as passing (storage unreachable, say) and retried.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def to_body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def field_error(field: str, message: str) -> dict[str, str]:
    """One entry of `details.errors`: which input was wrong and why."""
    return {"field": field, "message": message}
