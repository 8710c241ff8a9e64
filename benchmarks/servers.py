"""Launching the servers a benchmark compares: each in its own temp dir and process group,
timed from launch to its first 200, always stopped and cleaned up."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A port the kernel says is free now (a tiny race is acceptable for a benchmark)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Spec:
    """How to launch one kind of server and how to tell it is ready."""

    name: str
    argv: list[str]  # "{port}" and "{tmp}" are filled in per launch
    ready_path: str
    headers: dict[str, str]


class Server:
    """One server process under test, in its own temp dir; always stopped and cleaned up."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="ojin-bench-"))
        self.log_path = self.tmp / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_s = 0.0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Server:
        argv = [a.format(port=self.port, tmp=self.tmp) for a in self.spec.argv]
        try:
            with self.log_path.open("wb") as log:
                started = time.perf_counter()
                # Own session, so stop() reaches any child the server spawns (node does).
                self.proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            self.ready_s = self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self, started: float, timeout: float = 60.0) -> float:
        """Seconds from Popen to the first 200 on the ready path, polling every 5 ms."""
        assert self.proc is not None
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.spec.name} exited ({self.proc.returncode}):\n{tail}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", self.spec.ready_path, headers=self.spec.headers)
                if conn.getresponse().status == 200:
                    return time.perf_counter() - started
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            time.sleep(0.005)
        raise RuntimeError(f"{self.spec.name} gave no 200 within {timeout:.0f} s")

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after 5 s, then remove the temp dir."""
        if self.proc is not None and self.proc.poll() is None:
            for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)
                    self.proc.wait(grace)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
        shutil.rmtree(self.tmp, ignore_errors=True)
