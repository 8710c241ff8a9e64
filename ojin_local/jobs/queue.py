"""Huey as the carrier of job ids, over SQLite in the data dir (default) or Redis."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ojin_local.config import Config, ConfigError

if TYPE_CHECKING:
    from huey import Huey

QUEUE_NAME = "ojin-local"
QUEUE_FILENAME = "jobs-queue.sqlite3"


def open_huey(config: Config) -> Huey:
    """Results are not kept: job outcomes live in the job table, where clients read them."""
    options: dict[str, Any] = {"results": False, "utc": True}
    if config.jobs.queue == "redis":
        from huey import RedisHuey
        from huey.exceptions import ConfigurationError

        try:
            return RedisHuey(QUEUE_NAME, url=config.jobs.redis_url, **options)
        except ConfigurationError as exc:  # the redis package is missing
            raise ConfigError(
                "[jobs] queue = redis needs the redis package: pip install 'ojin-local[redis]'"
            ) from exc
    # Huey imports the redis client whenever it is installed (~130 ms, 40% of the server's
    # start); the SQLite queue never uses it.
    sys.modules.setdefault("redis", None)
    from huey import SqliteHuey

    config.data_path.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(QUEUE_NAME, filename=str(config.data_path / QUEUE_FILENAME), **options)


class HueyQueue:
    """The queue jobs are put on; `register` names what consumers run."""

    def __init__(self, huey: Huey) -> None:
        self.huey = huey
        self._run_job: Any = None

    def register(
        self,
        run_job: Callable[[str], None],
        collect_garbage: Callable[[], None],
        gc_interval_minutes: int,
    ) -> None:
        """Stable task names: queued messages name the task, and outlive a code change."""
        from huey import crontab

        self._run_job = self.huey.task(name="ojin.run_job")(run_job)
        every = crontab(minute=f"*/{gc_interval_minutes}")
        self.huey.periodic_task(every, name="ojin.collect_garbage")(collect_garbage)

    def enqueue(self, job_id: str, delay_seconds: int = 0) -> None:
        """A delayed job goes straight onto the schedule (Huey's own `schedule()` queues it with
        an eta, and a consumer moves it to the schedule only when it next polls, up to 10 s
        later), so that `bring_forward` always finds it there."""
        if delay_seconds > 0:
            task = self._run_job.s(job_id)
            task.eta = _utc_now() + timedelta(seconds=delay_seconds)
            self.huey.add_schedule(task)
        else:
            self._run_job(job_id)

    def queued_job_ids(self) -> set[str]:
        """Jobs waiting on the queue or its schedule (e.g. a delayed retry)."""
        tasks = [*self.huey.pending(), *self.huey.scheduled()]
        return {task.args[0] for task in tasks if task.name == "ojin.run_job" and task.args}

    def clear(self) -> None:
        """Drop every queued and scheduled task (POST /_ojin/reset)."""
        self.huey.storage.flush_queue()
        self.huey.storage.flush_schedule()

    def depth(self) -> int:
        return self.huey.pending_count() + self.huey.scheduled_count()

    def bring_forward(self, seconds: float, which: Callable[[str], bool]) -> int:
        """Scheduled jobs that `which` picks (by job id) become due `seconds` earlier, as if that
        much time had passed (the virtual clock, domain.clock); those now due go on the queue.
        Huey keeps no way to edit one schedule entry, so the schedule is rewritten: a job the
        consumer takes meanwhile may be delivered twice, which runs it once (JobRunner claims).
        Returns how many jobs became due."""
        tasks = self.huey.scheduled()
        if not tasks:
            return 0
        now = _utc_now()
        self.huey.storage.flush_schedule()
        due = 0
        for task in tasks:
            if task.name == "ojin.run_job" and task.args and which(task.args[0]):
                task.eta -= timedelta(seconds=seconds)
                if task.eta <= now:
                    task.eta = None
                    self.huey.enqueue(task)
                    due += 1
                    continue
            self.huey.add_schedule(task)
        return due


def _utc_now() -> datetime:
    """As Huey (utc=True) writes its etas: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)
