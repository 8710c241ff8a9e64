"""Typed access to what `endpoint` put on a request."""

from __future__ import annotations

from sanic import Request

from ojin_local.domain.auth import Principal
from ojin_local.domain.common import PageRequest
from ojin_local.http.edge import Input
from ojin_local.services import Services


def services(request: Request) -> Services:
    return request.app.ctx.services


def principal(request: Request) -> Principal:
    """The caller on a route whose auth is required (`endpoint` guarantees one)."""
    return request.ctx.principal


def page_of(given: Input) -> PageRequest:
    """The page a listing asked for; `limit` and `offset` have defaults in the spec."""
    return PageRequest(limit=given.query["limit"], offset=given.query["offset"])
