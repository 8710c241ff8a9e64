"""A throw-away Redis server for the tests and benchmarks: Debian's redis-server 7, listening on a
free port of 127.0.0.1, persisting nothing, its folder removed when stopped.

Every ojin-local names its Huey queue alike (ojin_local/jobs/queue.py), so two servers on one
Redis database would share a queue. `database_url` hands each caller a Redis database of its own
instead (this one is started with DATABASES of them), which needs no key prefix in ojin-local
and no second server.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

BINARY = Path(os.environ.get("OJIN_TEST_REDIS_SERVER", "/usr/bin/redis-server"))
DATABASES = 1024  # redis-server's default is 16; a test session starts more servers than that
MISSING = (
    f"the Redis tests need {BINARY} (Debian: apt-get install redis-server; `make test` installs "
    "it when run as root), or OJIN_TEST_REDIS_SERVER naming another redis-server binary"
)


class RedisServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ojin-redis-"))
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._next_database = 0

    def start(self, timeout: float = 10.0) -> RedisServer:
        if not BINARY.exists():
            raise RuntimeError(MISSING)
        self.port = _free_port()
        # No snapshots, no append-only file: the tests' queues need not outlive the server.
        command = [
            str(BINARY), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.root), "--databases", str(DATABASES),
        ]  # fmt: skip
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._wait_for_ping(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        """Database 0; callers that share this server take `database_url()` instead."""
        return f"redis://127.0.0.1:{self.port}/0"

    def database_url(self) -> str:
        """A database no earlier call handed out, so each caller's queue is its own; raises
        once all are taken (start another RedisServer then)."""
        if self._next_database == DATABASES:
            raise RuntimeError(f"all {DATABASES} databases of the Redis on {self.port} are taken")
        number, self._next_database = self._next_database, self._next_database + 1
        return f"redis://127.0.0.1:{self.port}/{number}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def _wait_for_ping(self, timeout: float) -> None:
        """Until redis-server answers PING; its log in the error if it exits or never answers."""
        assert self.proc is not None
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    code = self.proc.returncode
                    raise RuntimeError(f"redis-server exited ({code}):\n{self._tail()}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.01)
        finally:
            client.close()
        raise RuntimeError(f"redis-server gave no PONG within {timeout:g} s:\n{self._tail()}")

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
