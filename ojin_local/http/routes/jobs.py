"""The idle-video generator, and the job routes the spec implies but does not define."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from ojin_local.http.context import page_of, principal, services
from ojin_local.http.edge import Input
from ojin_local.http.endpoint import endpoint

bp = Blueprint("jobs")


@endpoint(bp, "generateIdleVideo")
async def generate_idle_video(request: Request, given: Input) -> HTTPResponse:
    answer = await services(request).idle_videos.submit(principal(request), given.body)
    return json(answer, status=202)


@endpoint(bp, "ojinListJobs")
async def list_jobs(request: Request, given: Input) -> HTTPResponse:
    result = services(request).jobs.list(
        principal(request),
        status=given.query.get("status"),
        job_type=given.query.get("type"),
        page=page_of(given),
    )
    return json(result.to_body())


@endpoint(bp, "ojinGetJob")
async def get_job(request: Request, given: Input) -> HTTPResponse:
    return json(services(request).jobs.get(principal(request), given.path["job_id"]))
