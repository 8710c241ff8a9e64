"""What a consumer's workers run, wired to this process's database and storage.

Thread workers share the server's open database and storage. Process workers (forked by
`ojin-local worker` with worker_type = "process") cannot use a database writer thread or boto3
clients made before the fork, so each process opens its own on first use.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import threading

from ojin_local.config import Config
from ojin_local.db import Database, open_database
from ojin_local.domain.clock import Clock
from ojin_local.domain.gc import collect_garbage, give_back_lease, take_lease
from ojin_local.domain.idle_video import IDLE_VIDEO, generate_idle_video
from ojin_local.domain.jobs import JobRunner, WorkerId, recover
from ojin_local.jobs.queue import HueyQueue
from ojin_local.storage import Storage, open_storage

log = logging.getLogger("ojin_local.jobs")


class JobRuntime:
    def __init__(
        self,
        config: Config,
        queue: HueyQueue,
        db: Database,
        clock: Clock | None = None,
        storage: Storage | None = None,
    ) -> None:
        self.config = config
        self.queue = queue
        self.clock = clock or Clock()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._db = db
        self._storage = storage or open_storage(config)
        self._runner = self._make_runner()
        queue.register(self.run_job, self.collect_periodically, config.jobs.gc_interval_minutes)

    def recover(self) -> int:
        """Before a consumer starts: requeue what a dead consumer left; see domain.jobs."""
        return recover(self._db, self.queue, self._runner.worker, self.config.jobs.max_attempts)

    def run_job(self, job_id: str) -> None:
        self._for_this_process().run(job_id)

    def collect_periodically(self) -> None:
        """Huey's periodic task: run by one consumer at a time (see take_lease)."""
        db = self._for_this_process().db
        holder = secrets.token_hex(8)
        if not db.write_sync(take_lease, holder):
            log.info("garbage collection: another consumer is collecting")
            return
        try:
            self.collect_garbage()
        finally:
            db.write_sync(give_back_lease, holder)

    def collect_garbage(self) -> None:
        runner = self._for_this_process()
        collected = collect_garbage(
            runner.db, self._storage, self.clock, self.config.storage.upload_session_ttl_seconds
        )
        log.info("garbage collection: %s", collected)

    def _for_this_process(self) -> JobRunner:
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._db = open_database(self.config)
                self._storage = open_storage(self.config)
                self._runner = self._make_runner()
            return self._runner

    def _make_runner(self) -> JobRunner:
        jobs = self.config.jobs
        handlers = {
            IDLE_VIDEO: functools.partial(
                generate_idle_video, self._db, self._storage, jobs.idle_video_max_side
            )
        }
        return JobRunner(
            self._db, self.queue, self.clock, handlers, jobs.max_attempts, WorkerId.current()
        )
