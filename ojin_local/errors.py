"""Every error the API can answer with, as one exception hierarchy.

Domain code raises these; `ojin_local.http.errors` renders them, and only there. Each class carries
the HTTP status and the stable machine code a client can branch on.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
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

    def __init__(self, message: str, errors: list[dict[str, str]]) -> None:
        super().__init__(message, {"errors": errors})


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


def field_error(field: str, message: str) -> dict[str, str]:
    """One entry of `details.errors`: which input was wrong and why."""
    return {"field": field, "message": message}
