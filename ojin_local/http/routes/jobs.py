"""The idle-video generator, and the job routes the spec implies but does not define."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from ojin_local.domain.common import JOB_STATUSES
from ojin_local.domain.idle_video import IDLE_VIDEO
from ojin_local.http.context import principal, services
from ojin_local.http.endpoint import endpoint
from ojin_local.http.params import Query, json_body

bp = Blueprint("jobs", url_prefix="/v1")

JOB_TYPES = (IDLE_VIDEO,)


@endpoint(
    bp, "POST", "/assets/generate/ojin/oris-1.0-idle-video-generator", operation="generateIdleVideo"
)
async def generate_idle_video(request: Request) -> HTTPResponse:
    answer = await services(request).idle_videos.submit(principal(request), json_body(request))
    return json(answer, status=202)


@endpoint(bp, "GET", "/jobs", operation="ojinListJobs")
async def list_jobs(request: Request) -> HTTPResponse:
    query = Query(request)
    page = query.page()
    status = query.choice("status", JOB_STATUSES, None)
    job_type = query.choice("type", JOB_TYPES, None)
    query.check()
    result = services(request).jobs.list(
        principal(request), status=status, job_type=job_type, page=page
    )
    return json(result.to_body())


@endpoint(bp, "GET", "/jobs/<job_id>", operation="ojinGetJob")
async def get_job(request: Request, job_id: str) -> HTTPResponse:
    return json(services(request).jobs.get(principal(request), job_id))
