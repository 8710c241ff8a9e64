"""Small helpers every resource shares: ids, timestamps, pages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# The asset categories and job statuses the API knows; here, where the CLI can read them
# without loading the database layer.
CATEGORIES = ("image", "video", "audio", "weight")
JOB_STATUSES = ("queued", "running", "succeeded", "failed")
# Offsets are 64-bit, as SQLite's integers and JSON encoders' are; beyond that is a 400.
MAX_OFFSET = 2**63 - 1


def new_id() -> str:
    return str(uuid.uuid4())


def now_iso() -> str:
    """UTC, ISO 8601, microseconds, fixed width: sorts as text in the order it happened."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    offset: int = 0


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    request: PageRequest

    def to_body(self) -> dict[str, Any]:
        return {
            "data": self.items,
            "pagination": {
                "limit": self.request.limit,
                "offset": self.request.offset,
                "total_items": self.total,
            },
        }
