"""A throw-away Postgres server for the tests: Debian's postgresql 15, initialised into a temporary
folder, listening on a free port of 127.0.0.1, removed when stopped. Each test server gets a
database of its own on it (`create_database`), which costs ~10 ms where a cluster costs ~1 s.

Postgres refuses to run as root: as root, its commands run as the `postgres` user the Debian
package creates (stack findings: `runuser -u postgres -- initdb ...`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

BIN = Path(os.environ.get("OJIN_TEST_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
USER = "ojin"
MISSING = (
    f"the Postgres tests need Postgres's server programs in {BIN} (Debian: apt-get install "
    "postgresql; `make test` installs it when run as root), or OJIN_TEST_POSTGRES_BIN naming "
    "another folder holding initdb and pg_ctl"
)


class PostgresServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ojin-postgres-"))
        self.port = 0

    def start(self) -> PostgresServer:
        if not (BIN / "initdb").exists():
            raise RuntimeError(MISSING)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", USER, "-E", "UTF8")
        self.port = _free_port()
        # Durability is not what these tests test: without fsync a commit costs microseconds.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w", "-l", str(self.log), "start")
        return self

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database; returns its URL."""
        name = f"ojin_{uuid.uuid4().hex[:12]}"
        self._run("psql", "-q", "-d", self.url(), "-c", f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        if self.port:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [str(BIN / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
