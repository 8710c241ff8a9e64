"""Namespaces and the virtual clock (admin key): many tests on one server, time moved on demand."""

from __future__ import annotations

import asyncio

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from ojin_local.domain.clock import clock_body
from ojin_local.http.context import services
from ojin_local.http.edge import Input
from ojin_local.http.endpoint import endpoint

bp = Blueprint("namespaces")


@endpoint(bp, "ojinCreateNamespace")
async def create(request: Request, given: Input) -> HTTPResponse:
    name = (given.body or {}).get("name")
    return json(await services(request).namespaces.create(name), status=201)


@endpoint(bp, "ojinListNamespaces")
async def list_namespaces(request: Request, given: Input) -> HTTPResponse:
    return json({"data": services(request).namespaces.list()})


@endpoint(bp, "ojinResetNamespace")
async def reset(request: Request, given: Input) -> HTTPResponse:
    await asyncio.to_thread(services(request).namespaces.reset, given.path["namespace_id"])
    return empty()


@endpoint(bp, "ojinDeleteNamespace")
async def delete(request: Request, given: Input) -> HTTPResponse:
    await asyncio.to_thread(services(request).namespaces.delete, given.path["namespace_id"])
    return empty()


# Clocks: the server's (no namespace in the path) and a namespace's


async def read_clock(request: Request, given: Input) -> HTTPResponse:
    reading = services(request).time_travel.read(given.path.get("namespace_id"))
    return json(clock_body(reading))


async def advance_clock(request: Request, given: Input) -> HTTPResponse:
    travel = services(request).time_travel
    seconds = given.body["advance_seconds"]
    reading = await asyncio.to_thread(travel.advance, given.path.get("namespace_id"), seconds)
    return json(clock_body(reading))


async def reset_clock(request: Request, given: Input) -> HTTPResponse:
    travel = services(request).time_travel
    reading = await asyncio.to_thread(travel.reset, given.path.get("namespace_id"))
    return json(clock_body(reading))


for scope in ("", "Namespace"):
    endpoint(bp, f"ojinGet{scope}Clock")(read_clock)
    endpoint(bp, f"ojinAdvance{scope}Clock")(advance_clock)
    endpoint(bp, f"ojinReset{scope}Clock")(reset_clock)
