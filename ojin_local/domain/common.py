"""Small helpers every resource shares: ids, timestamps, pages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ojin_local import spec

# The asset categories and job statuses the API knows, as the served spec lists them; here,
# where the CLI can read them without loading the database layer.
CATEGORIES = spec.enum("AssetInitiateUploadRequest", "category")
JOB_STATUSES = spec.enum("OjinJobStatus")


def new_id() -> str:
    return str(uuid.uuid4())


def is_uuid(value: str) -> bool:
    """As JSON Schema's `uuid` format (the spec's): hex in the 8-4-4-4-12 form."""
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return len(value) == 36 and all(value[position] == "-" for position in (8, 13, 18, 23))


@dataclass(frozen=True)
class PageRequest:
    limit: int
    offset: int


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
