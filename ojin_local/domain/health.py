"""What GET /_ojin/health reports: one entry per component, and an overall status."""

from __future__ import annotations

from typing import Any, Protocol

import peewee as pw

from ojin_local import __version__
from ojin_local.config import JobsConfig
from ojin_local.db import Database
from ojin_local.domain.jobs import Queue
from ojin_local.storage import Storage


class Consumer(Protocol):
    @property
    def running(self) -> bool: ...


def health_report(
    db: Database, storage: Storage, queue: Queue, jobs: JobsConfig, consumer: Consumer | None
) -> dict[str, Any]:
    """Blocking (the S3 backend asks S3): call it off the event loop. `consumer` is None when
    this process runs no jobs."""
    components = {
        "database": _database(db),
        "storage": _storage(storage),
        "jobs": _jobs(queue, jobs, consumer),
    }
    degraded = any(part["status"] == "error" for part in components.values())
    return {"status": "degraded" if degraded else "ok", "version": __version__, **components}


def _database(db: Database) -> dict[str, Any]:
    try:
        version = db.schema_version
    except pw.DatabaseError as exc:
        return {"status": "error", "backend": db.dialect, **db.where, "detail": str(exc)}
    return {"status": "ok", "backend": db.dialect, **db.where, "schema_version": version}


def _storage(storage: Storage) -> dict[str, Any]:
    try:
        report = storage.health()
    except Exception as exc:  # a health check reports failures, it does not raise them
        report = {"status": "error", "detail": str(exc)}
    return {"backend": storage.backend, **report}


def _jobs(queue: Queue, jobs: JobsConfig, consumer: Consumer | None) -> dict[str, Any]:
    report: dict[str, Any] = {"queue": jobs.queue}
    try:
        report["queue_depth"] = queue.depth()
    except Exception as exc:
        return {"status": "error", **report, "detail": f"the queue cannot be read: {exc}"}
    if consumer is None:
        return {
            "status": "disabled",
            **report,
            "consumer": "none",
            "detail": "no jobs run here (serve --no-jobs, or --processes above 1): "
            "`ojin-local worker` runs them",
        }
    alive = consumer.running
    return {
        "status": "ok" if alive else "error",
        **report,
        "consumer": "embedded",
        "workers": jobs.workers,
        **({} if alive else {"detail": "the consumer has stopped"}),
    }
