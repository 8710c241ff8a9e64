"""Typed access to what `endpoint` put on a request."""

from __future__ import annotations

from sanic import Request

from ojin_local.domain.auth import Principal
from ojin_local.services import Services


def services(request: Request) -> Services:
    return request.app.ctx.services


def principal(request: Request) -> Principal:
    """The caller on a route whose auth is required (`endpoint` guarantees one)."""
    return request.ctx.principal
