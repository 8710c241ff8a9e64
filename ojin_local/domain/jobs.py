"""Background jobs: the records clients poll, and the rules for running them.

The queue (Huey) carries only job ids; the `job` table is the truth. A job is claimed
(`queued` -> `running`) in one transaction before it runs, so a job delivered twice runs once.
A job that fails for a passing reason goes back to `queued` until `max_attempts` are spent; a
`JobFailure` ends it at once. At consumer start, `recover` requeues jobs whose consumer died
mid-run and enqueues queued jobs the queue lost, so no job is ever stuck.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ojin_local import spec
from ojin_local.db import Database
from ojin_local.db.models import Job
from ojin_local.domain import clock
from ojin_local.domain.auth import Principal
from ojin_local.domain.clock import now_iso
from ojin_local.domain.common import Page, PageRequest, new_id
from ojin_local.errors import JobFailure, NotFound, S3Error

log = logging.getLogger("ojin_local.jobs")

JOB_FIELDS = spec.fields("OjinJob")
RETRY_DELAY_SECONDS = 2


class Queue(Protocol):
    """What the domain needs of the queue that carries jobs (`jobs.queue.HueyQueue`)."""

    def enqueue(self, job_id: str, delay_seconds: int = 0) -> None: ...

    def queued_job_ids(self) -> set[str]: ...

    def clear(self) -> None:
        """Drop every queued and scheduled job."""

    def depth(self) -> int:
        """How many jobs wait, queued or scheduled."""

    def bring_forward(self, seconds: float, which: Callable[[str], bool]) -> int:
        """Make the scheduled jobs `which` picks due `seconds` earlier; returns how many are
        due now."""


Handler = Callable[[dict[str, Any]], dict[str, Any]]


class Jobs:
    """Creating and reading job records, for the API."""

    def __init__(self, db: Database, queue: Queue) -> None:
        self.db = db
        self.queue = queue

    async def submit(
        self, principal: Principal, job_type: str, parameters: dict[str, Any], delay: int = 0
    ) -> dict[str, Any]:
        """Recorded first, then enqueued: if enqueuing fails, `recover` enqueues it later."""
        row = {
            "job_id": new_id(),
            "organization_id": principal.organization_id,
            "created_by": principal.user_id,
            "type": job_type,
            "status": "queued",
            "parameters": parameters,
            "attempts": 0,
            "created_at": now_iso(),
        }
        await self.db.write(lambda: Job.insert(row).execute())
        try:
            self.queue.enqueue(row["job_id"], delay)
        except Exception:
            log.exception("job %s recorded but not enqueued; recovery will enqueue it", row)
        return row

    def get(self, principal: Principal, job_id: str) -> dict[str, Any]:
        row = (
            Job.select()
            .where((Job.job_id == job_id) & (Job.organization_id == principal.organization_id))
            .dicts()
            .first()
        )
        if row is None:
            raise NotFound(f"Job {job_id} was not found.", {"job_id": job_id})
        return public_job(row)

    def list(
        self, principal: Principal, *, status: str | None, job_type: str | None, page: PageRequest
    ) -> Page:
        """Newest first, like every listing of the API."""
        query = Job.select().where(Job.organization_id == principal.organization_id)
        if status is not None:
            query = query.where(Job.status == status)
        if job_type is not None:
            query = query.where(Job.type == job_type)
        rows = query.order_by(Job.created_at.desc(), Job.job_id.desc())
        with self.db.snapshot():
            total = query.count()
            items = [public_job(r) for r in rows.limit(page.limit).offset(page.offset).dicts()]
        return Page(items, total, page)


def public_job(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in JOB_FIELDS}


@dataclass(frozen=True)
class WorkerId:
    """Who runs a job: host, process and a nonce, so a restarted process (even one that got
    the same pid) can tell its predecessor's jobs from its neighbours'."""

    host: str
    pid: int
    nonce: str

    @classmethod
    def current(cls) -> WorkerId:
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8])

    @classmethod
    def parse(cls, text: str) -> WorkerId | None:
        host, _, rest = text.rpartition(":")
        host, _, pid = host.rpartition(":")
        return cls(host, int(pid), rest) if pid.isdecimal() else None

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.nonce}"

    def is_gone(self, me: WorkerId) -> bool:
        """Only this host's processes can be checked; another host's consumer is assumed alive."""
        if self.host != me.host:
            return False
        if self.pid == me.pid:
            return self.nonce != me.nonce
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


class JobRunner:
    """Runs one job by id, in a consumer's worker (thread or process)."""

    def __init__(
        self,
        db: Database,
        queue: Queue,
        clocks: clock.Clock,
        handlers: Mapping[str, Handler],
        max_attempts: int,
        worker: WorkerId,
    ) -> None:
        self.db = db
        self.queue = queue
        self.clocks = clocks
        self.handlers = handlers
        self.max_attempts = max_attempts
        self.worker = worker

    def run(self, job_id: str) -> None:
        """On its organization's clock, read afresh: the server may have moved it meanwhile
        (and this may be another process, `ojin-local worker`)."""
        owner = Job.select(Job.organization_id).where(Job.job_id == job_id).scalar()
        if owner is None:
            return  # removed by a reset while it waited
        self.clocks.load()
        clock.enter(self.clocks.of_organization(owner))
        job = self.db.write_sync(_claim, job_id, str(self.worker))
        if job is None:
            return  # delivered twice, or already finished: nothing to do
        log.info("job %s (%s) started, attempt %d", job_id, job["type"], job["attempts"])
        try:
            result = self.handlers[job["type"]](job)
        except JobFailure as failure:
            self._fail(job, failure)
        except Exception as exc:
            self._retry_or_fail(job, exc)
        else:
            self.db.write_sync(_finish, job_id, "succeeded", result=result)
            log.info("job %s succeeded: %s", job_id, result)

    def _fail(self, job: dict[str, Any], failure: JobFailure) -> None:
        self.db.write_sync(_finish, job["job_id"], "failed", error=failure.to_body())
        log.warning("job %s failed: %s: %s", job["job_id"], failure.code, failure.message)

    def _retry_or_fail(self, job: dict[str, Any], exc: Exception) -> None:
        if job["attempts"] < self.max_attempts:
            log.warning("job %s attempt %d failed: %s", job["job_id"], job["attempts"], exc)
            self.db.write_sync(_requeue, job["job_id"])
            self.queue.enqueue(job["job_id"], RETRY_DELAY_SECONDS * job["attempts"])
            return
        log.exception("job %s failed after %d attempts", job["job_id"], job["attempts"])
        self._fail(job, passing_failure(exc, job["attempts"]))


def passing_failure(exc: Exception, attempts: int) -> JobFailure:
    if isinstance(exc, S3Error):
        return JobFailure(
            "STORAGE_ERROR", f"Storage failed {attempts} time(s): {exc.code}: {exc.message}"
        )
    return JobFailure("JOB_ERROR", f"The job failed {attempts} time(s): {exc}")


def recover(db: Database, queue: Queue, me: WorkerId, max_attempts: int) -> int:
    """Requeue (or fail) jobs a dead consumer was running; enqueue queued jobs the queue lost.
    Returns how many jobs were put back on the queue."""
    interrupted = db.write_sync(_recover_interrupted, me, max_attempts)
    known = queue.queued_job_ids()
    waiting = [row[0] for row in Job.select(Job.job_id).where(Job.status == "queued").tuples()]
    missing = [job_id for job_id in waiting if job_id not in known]
    for job_id in missing:
        queue.enqueue(job_id)
    if missing:
        log.info("enqueued %d job(s), %d of them interrupted", len(missing), len(interrupted))
    return len(missing)


# Transactions (run on the database's writer thread)


def _claim(job_id: str, worker: str) -> dict[str, Any] | None:
    """Conditional, so one consumer (of any process) runs a job however often it is delivered."""
    row = Job.select().where(Job.job_id == job_id).dicts().first()
    if row is None or row["status"] != "queued":
        return None
    changes = {"status": "running", "attempts": row["attempts"] + 1, "worker": worker}
    changes["started_at"] = now_iso()
    claimed = Job.update(changes).where((Job.job_id == job_id) & (Job.status == "queued")).execute()
    return {**row, **changes} if claimed else None


def _finish(
    job_id: str,
    status: str,
    result: dict[str, Any] | None = None,
    error: dict[str, str] | None = None,
) -> None:
    Job.update(status=status, result=result, error=error, worker=None, finished_at=now_iso()).where(
        Job.job_id == job_id
    ).execute()


def _requeue(job_id: str) -> None:
    Job.update(status="queued", worker=None).where(Job.job_id == job_id).execute()


def _recover_interrupted(me: WorkerId, max_attempts: int) -> list[str]:
    requeued = []
    for job_id, worker, attempts in (
        Job.select(Job.job_id, Job.worker, Job.attempts).where(Job.status == "running").tuples()
    ):
        owner = WorkerId.parse(worker or "")
        if owner is not None and not owner.is_gone(me):
            continue
        if attempts >= max_attempts:
            _finish(
                job_id,
                "failed",
                error={
                    "code": "JOB_INTERRUPTED",
                    "message": f"The process running this job stopped {attempts} time(s).",
                },
            )
        else:
            _requeue(job_id)
            requeued.append(job_id)
    return requeued
