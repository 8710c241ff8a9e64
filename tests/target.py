"""The service a portable suite talks to: a local server by default, or any Ojin API.

The contract, isolation and bad-input suites ask only for a `Target`, so a user holding real Ojin
credentials can run them against the real service and see where the two differ:

    OJIN_TEST_TARGET_URL=https://api.ojin.ai/v1 \\
    OJIN_TEST_API_KEY=... OJIN_TEST_OTHER_API_KEY=... [OJIN_TEST_REVOKED_API_KEY=...] \\
    make test PYTEST_ARGS="-m 'contract or isolation or hostile'"

The two keys must belong to different organizations. Checks that need a revoked key are skipped
when the remote target names none; checks only a local server can make (its admin routes, its
data dir) ask for `target.server` and are skipped against a remote target.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import Server

TARGET_URL = "OJIN_TEST_TARGET_URL"


@dataclass(frozen=True)
class Target:
    api_url: str
    """The API base, ending in /v1, as a client of the real service configures it."""
    key: str
    other_key: str
    """A key of another organization than `key`'s."""
    revoked_key: str | None
    server: Server | None
    """The local server, or None when the target is remote."""

    @property
    def root(self) -> str:
        return self.api_url.removesuffix("/v1")

    def local_server(self) -> Server:
        """The local server, skipping the calling test against a remote target."""
        if self.server is None:
            pytest.skip("needs a local ojin-local server (the target is remote)")
        return self.server

    def need_revoked_key(self) -> str:
        if self.revoked_key is None:
            pytest.skip("OJIN_TEST_REVOKED_API_KEY is not set for the remote target")
        return self.revoked_key


def remote_target() -> Target | None:
    url = os.environ.get(TARGET_URL)
    if not url:
        return None
    try:
        key, other = os.environ["OJIN_TEST_API_KEY"], os.environ["OJIN_TEST_OTHER_API_KEY"]
    except KeyError as missing:
        raise pytest.UsageError(f"{TARGET_URL} is set, so {missing} must be too") from None
    revoked = os.environ.get("OJIN_TEST_REVOKED_API_KEY") or None
    return Target(url.rstrip("/"), key, other, revoked, None)
