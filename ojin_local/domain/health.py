"""What GET /_ojin/health reports: one entry per component, and an overall status."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import peewee as pw

from ojin_local import __version__

if TYPE_CHECKING:
    from ojin_local.services import Services


def health_report(services: Services) -> dict[str, Any]:
    components = {
        "database": _database(services),
        "storage": _storage(services),
        "jobs": {"status": "disabled", "detail": "no job consumer in this build"},
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
    data_dir = services.config.data_path
    writable = os.access(data_dir, os.W_OK)
    return {
        "status": "ok" if writable else "error",
        "backend": services.config.storage.backend,
        "data_dir": str(data_dir),
    }
