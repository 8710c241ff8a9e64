"""Moving a clock forward (POST /_ojin/clock, POST /_ojin/namespaces/{id}/clock), and what a test
expects to have happened by the new time: delayed and scheduled jobs that fell due are put on the
queue at once, and upload sessions that expired are collected before the answer (so the test
sees them gone without waiting for the next garbage collection).
"""

from __future__ import annotations

from collections.abc import Callable

from ojin_local.db import Database
from ojin_local.db.models import Job
from ojin_local.domain.clock import Clock, Reading
from ojin_local.domain.jobs import Queue
from ojin_local.errors import NotFound


class TimeTravel:
    def __init__(
        self, db: Database, clock: Clock, queue: Queue, collect_garbage: Callable[[], None]
    ) -> None:
        self.db = db
        self.clock = clock
        self.queue = queue
        self.collect_garbage = collect_garbage

    def advance(self, namespace_id: str | None, seconds: float) -> Reading:
        """Blocking."""
        self.read(namespace_id)  # 404 before anything moves
        if namespace_id is None:
            reading = self.db.write_sync(self.clock.advance_server, seconds)
            self.queue.bring_forward(seconds, lambda job_id: True)
        else:
            reading = self.db.write_sync(self.clock.advance_namespace, namespace_id, seconds)
            self.queue.bring_forward(seconds, self._jobs_of(namespace_id).__contains__)
        self.collect_garbage()
        return reading

    def reset(self, namespace_id: str | None) -> Reading:
        """Blocking: back to real time (the server's), the one step back a clock takes."""
        self.read(namespace_id)
        if namespace_id is None:
            return self.db.write_sync(self.clock.reset_server)
        return self.db.write_sync(self.clock.reset_namespace, namespace_id)

    def read(self, namespace_id: str | None) -> Reading:
        if namespace_id is None:
            return self.clock.server()
        reading = self.clock.of_namespace(namespace_id)
        if reading.namespace_id is None:
            raise NotFound(
                f"Namespace {namespace_id} was not found.", {"namespace_id": namespace_id}
            )
        return reading

    def _jobs_of(self, namespace_id: str) -> set[str]:
        organizations = self.clock.organizations_of(namespace_id)
        query = Job.select(Job.job_id).where(
            Job.organization_id.in_(organizations) & (Job.status == "queued")
        )
        return {row[0] for row in query.tuples()}
