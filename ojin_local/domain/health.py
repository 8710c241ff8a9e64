"""What GET /_ojin/health reports: one entry per component, and an overall status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import peewee as pw

from ojin_local import __version__

if TYPE_CHECKING:
    from ojin_local.services import Services


def health_report(services: Services) -> dict[str, Any]:
    """Blocking (the S3 backend asks S3): call it off the event loop."""
    components = {
        "database": _database(services),
        "storage": _storage(services),
        "jobs": _jobs(services),
    }
    degraded = any(part["status"] == "error" for part in components.values())
    return {"status": "degraded" if degraded else "ok", "version": __version__, **components}


def _database(services: Services) -> dict[str, Any]:
    db = services.db
    try:
        version = db.schema_version
    except pw.DatabaseError as exc:
        return {"status": "error", "path": str(db.path), "detail": str(exc)}
    return {"status": "ok", "path": str(db.path), "schema_version": version}


def _storage(services: Services) -> dict[str, Any]:
    try:
        report = services.storage.health()
    except Exception as exc:  # a health check reports failures, it does not raise them
        report = {"status": "error", "detail": str(exc)}
    return {"backend": services.storage.backend, **report}


def _jobs(services: Services) -> dict[str, Any]:
    jobs = services.config.jobs
    report: dict[str, Any] = {"queue": jobs.queue}
    try:
        report["queue_depth"] = services.queue.depth()
    except Exception as exc:
        return {"status": "error", **report, "detail": f"the queue cannot be read: {exc}"}
    consumer = services.consumer
    if consumer is None:
        return {
            "status": "disabled",
            **report,
            "consumer": "none",
            "detail": "serve --no-jobs: jobs wait for `ojin-local worker`",
        }
    alive = consumer.running
    return {
        "status": "ok" if alive else "error",
        **report,
        "consumer": "embedded",
        "workers": jobs.workers,
        **({} if alive else {"detail": "the consumer has stopped"}),
    }
