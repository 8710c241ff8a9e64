"""API keys and who they stand for.

Keys come from four places: the config file (`[[api_keys]]`), keys made with
`ojin-local keys create` (only their SHA-256 is stored), a namespace's two keys (made with it, see
domain.namespaces; test scaffolding, not access), and the development key, which works only while
no other key but a namespace's exists, so a fresh install is usable at once and stops accepting
the well-known key as soon as real keys are set up.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from ojin_local.config import DEV_KEY, DEV_ORGANIZATION, DEV_USER, ApiKeyConfig
from ojin_local.db.models import ApiKey, execute
from ojin_local.domain.clock import now_iso
from ojin_local.errors import NotFound

CREATED_KEY_PREFIX = "sk-local-"


@dataclass(frozen=True)
class Principal:
    organization_id: str
    user_id: str
    admin: bool = False
    namespace_id: str | None = None


DEV_PRINCIPAL = Principal(DEV_ORGANIZATION, DEV_USER, admin=True)


def hash_key(key: str) -> str:
    """Keys are long random strings, so a plain SHA-256 is enough (as GitHub does for tokens)."""
    return hashlib.sha256(key.encode()).hexdigest()


# Fixed SQL on every request's path: building these with Peewee cost ~220 us, running them ~5 us.
_ACTIVE_KEY_BY_HASH = (
    "SELECT organization_id, user_id, admin, namespace_id FROM api_key"
    " WHERE key_hash = ? AND revoked_at IS NULL"
)
_ANY_ACTIVE_KEY = "SELECT 1 FROM api_key WHERE revoked_at IS NULL AND namespace_id IS NULL LIMIT 1"


DEV_KEY_RECHECK_SECONDS = 1.0


class KeyRing:
    def __init__(self, configured: tuple[ApiKeyConfig, ...]) -> None:
        self._configured = {
            hash_key(k.key): Principal(k.organization_id, k.user_id, k.admin) for k in configured
        }
        self._dev_key_active = False
        self._dev_key_checked_until = 0.0

    def resolve(self, key: str) -> Principal | None:
        """The principal an X-API-Key value stands for, or None if it stands for nobody. A
        header that is not UTF-8 (Sanic keeps its bytes as surrogates) stands for nobody."""
        try:
            digest = hash_key(key)
        except UnicodeEncodeError:
            return None
        principal = self._configured.get(digest)
        if principal is not None:
            return principal
        if secrets.compare_digest(key.encode(), DEV_KEY.encode()):
            return DEV_PRINCIPAL if self.dev_key_active() else None
        row = execute(_ACTIVE_KEY_BY_HASH, digest).fetchone()
        return Principal(row[0], row[1], bool(row[2]), row[3]) if row else None

    def dev_key_active(self) -> bool:
        """Rechecked at most once a second: a key made by `ojin-local keys create` (in another
        process) turns the development key off within a second, without a query per request."""
        if self._configured:
            return False
        now = time.monotonic()
        if now >= self._dev_key_checked_until:
            self._dev_key_active = execute(_ANY_ACTIVE_KEY).fetchone() is None
            self._dev_key_checked_until = now + DEV_KEY_RECHECK_SECONDS
        return self._dev_key_active


def create_key(
    organization_id: str, user_id: str, admin: bool, namespace_id: str | None = None
) -> tuple[dict[str, Any], str]:
    """Store a new key's hash; returns its record and the key itself, which is shown only once."""
    key = CREATED_KEY_PREFIX + secrets.token_urlsafe(24)
    record = {
        "key_id": "key_" + secrets.token_hex(6),
        "key_hash": hash_key(key),
        "prefix": key[: len(CREATED_KEY_PREFIX) + 4],
        "organization_id": organization_id,
        "user_id": user_id,
        "admin": admin,
        "created_at": now_iso(),
        "revoked_at": None,
        "namespace_id": namespace_id,
    }
    ApiKey.insert(record).execute()
    return _public(record), key


def list_keys() -> list[dict[str, Any]]:
    rows = ApiKey.select().order_by(ApiKey.created_at, ApiKey.key_id).dicts()
    return [_public(row) for row in rows]


def revoke_key(key_id: str) -> dict[str, Any]:
    row = ApiKey.select().where(ApiKey.key_id == key_id).dicts().first()
    if row is None:
        raise NotFound(f"no API key with id {key_id}")
    if row["revoked_at"] is None:
        row["revoked_at"] = now_iso()
        ApiKey.update(revoked_at=row["revoked_at"]).where(ApiKey.key_id == key_id).execute()
    return _public(row)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "key_hash"}
