"""`ojin-local serve --processes N`: N API processes on one port, kept at N.

Pre-fork, as gunicorn does it: the command binds the socket once and every API process inherits
it and accepts from its one backlog, so a connection waiting there is served by whichever process
is free, and one queued when a process dies is not lost with it (with SO_REUSEPORT each process
would have a backlog of its own, reset when it dies). Each API process is `ojin-local serve`
itself, started with the inherited descriptor (`--listen-fd`) and the status file this module
keeps (`--supervised`): Sanic's own worker manager is avoided for the reasons in
../shared/notes/stack-findings.md. The processes share nothing but the socket and what lives in
Postgres and Redis (config.check_shared).

A process that exits is started again (after a pause that grows while it keeps failing at once);
SIGINT or SIGTERM stops them all, each draining its connections. An API process whose supervisor
is gone (SIGKILLed) stops itself (`watch_supervisor`).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("ojin_local.supervisor")

STOP_TIMEOUT_SECONDS = 30.0  # then what is left is killed
POLL_SECONDS = 0.05
RESTART_PAUSE_SECONDS = (0.1, 5.0)  # the first pause, and the most it grows to
STEADY_SECONDS = 10.0  # a process that served this long starts again without a pause
STATUS_FILE = "processes.json"


def own_command() -> list[str]:
    """How to run this ojin-local again: the frozen binary itself, or this interpreter's package."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "ojin_local"]


@dataclass
class ApiProcess:
    slot: int
    ready_file: Path
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0  # exits in a row, each soon after its start
    restart_at: float = 0.0
    serving: bool = False


@dataclass
class Supervisor:
    """Runs `count` copies of `argv` (with the listening socket's descriptor inherited)."""

    argv: list[str]
    listener: socket.socket
    count: int
    run_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ojin-local-run-")))

    def __post_init__(self) -> None:
        self.status_file = self.run_dir / STATUS_FILE
        self.processes = [
            ApiProcess(slot, self.run_dir / f"api-{slot}.ready") for slot in range(self.count)
        ]
        self._stopping = threading.Event()

    def run(self, ready: Callable[[], None]) -> None:
        """Until SIGINT or SIGTERM: `ready` is called once every process first serves."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: self._stopping.set())
        self._write_status()
        announced = False
        try:
            while not self._stopping.is_set():
                self._tend()
                if not announced and all(p.serving for p in self.processes):
                    announced = True
                    ready()
                self._stopping.wait(POLL_SECONDS)
        finally:
            self._stop_all()
            self.status_file.unlink(missing_ok=True)
            for process in self.processes:
                process.ready_file.unlink(missing_ok=True)
            self.run_dir.rmdir()

    def _tend(self) -> None:
        now = time.monotonic()
        changed = False
        for api in self.processes:
            if api.process is None:
                if now >= api.restart_at:
                    self._start(api)
                continue
            code = api.process.poll()
            if code is None:
                if not api.serving and api.ready_file.exists():
                    api.serving = changed = True
                continue
            changed = changed or api.serving
            self._ended(api, code, now)
        if changed:
            self._write_status()

    def _start(self, api: ApiProcess) -> None:
        fd = self.listener.fileno()
        argv = [
            *self.argv,
            "--listen-fd",
            str(fd),
            "--supervised",
            str(self.status_file),
            "--ready-file",
            str(api.ready_file),
        ]
        api.ready_file.unlink(missing_ok=True)
        api.process = subprocess.Popen(argv, pass_fds=(fd,))
        api.started = time.monotonic()

    def _ended(self, api: ApiProcess, code: int, now: float) -> None:
        """Replace it: at once if it had served a while, else after a growing pause."""
        pid = api.process.pid if api.process is not None else 0
        api.process, api.serving = None, False
        api.ready_file.unlink(missing_ok=True)
        api.failures = 0 if now - api.started >= STEADY_SECONDS else api.failures + 1
        first, most = RESTART_PAUSE_SECONDS
        pause = min(first * 2 ** (api.failures - 1), most) if api.failures else 0.0
        api.restart_at = now + pause
        log.warning(
            "API process %d (pid %d) ended with %s; starting another in %.1f s",
            api.slot,
            pid,
            _describe_exit(code),
            pause,
        )

    def _write_status(self) -> None:
        """What GET /_ojin/health reports as `processes`, read by every API process."""
        serving = sum(api.serving for api in self.processes)
        status = {"configured": self.count, "serving": serving}
        temp = self.status_file.with_name(f".{STATUS_FILE}.tmp")
        temp.write_text(json.dumps(status))
        os.replace(temp, self.status_file)

    def _stop_all(self) -> None:
        running = [api.process for api in self.processes if api.process is not None]
        for process in running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in running:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _describe_exit(code: int) -> str:
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"


def read_status(status_file: Path | None) -> dict[str, Any]:
    """The `processes` of health: the supervisor's status, or this lone process."""
    if status_file is None:
        return {"configured": 1, "serving": 1}
    try:
        return json.loads(status_file.read_text())
    except (OSError, ValueError):  # the supervisor is stopping
        return {"configured": 0, "serving": 0}


def watch_supervisor() -> None:
    """An API process stops (as on SIGTERM) once its supervisor is gone, whatever killed it."""
    supervisor_pid = os.getppid()

    def watch() -> None:
        while os.getppid() == supervisor_pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()
