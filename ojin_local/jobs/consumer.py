"""Huey consumers: threads inside `serve`, or a process of their own (`ojin-local worker`).

Measured (../shared/notes/stack-findings.md): consumer threads started beside a single-process
Sanic work, at ~42 MiB instead of ~142 MiB for separate processes; `Consumer.start()` installs
signal handlers, which inside `serve` would take SIGINT/SIGTERM from the server.
"""

from __future__ import annotations

import signal

from huey import Huey
from huey.consumer import Consumer

from ojin_local.config import JobsConfig

# An idle worker polls the queue; these bound how long a new job waits (SQLite cannot block).
POLL_INITIAL_SECONDS = 0.05
POLL_MAX_SECONDS = 0.5


def _options(jobs: JobsConfig) -> dict[str, object]:
    return {
        "workers": jobs.workers,
        "periodic": True,
        "initial_delay": POLL_INITIAL_SECONDS,
        "max_delay": POLL_MAX_SECONDS,
        "backoff": 1.5,
    }


class EmbeddedConsumer(Consumer):
    """Worker threads in the server's process; the server owns the signals and calls `stop`."""

    def _set_signal_handlers(self) -> None:
        """The server's handlers stay in place."""

    @property
    def running(self) -> bool:
        return not self.stop_flag.is_set() and all(
            thread.is_alive() for _, thread in self.worker_threads
        )


def start_embedded(huey: Huey, jobs: JobsConfig) -> EmbeddedConsumer:
    """Thread workers whatever `worker_type` says: forking a process that runs an event loop
    and a database writer thread is not safe."""
    consumer = EmbeddedConsumer(huey, worker_type="thread", **_options(jobs))
    consumer.start()
    return consumer


class StandaloneConsumer(Consumer):
    """`ojin-local worker`: SIGINT and SIGTERM both stop gracefully, finishing jobs in flight
    (Huey's default makes one of them abandon them)."""

    def _set_signal_handlers(self) -> None:
        self._signal_actions[signal.SIGINT] = (False, True)
        self._signal_actions[signal.SIGTERM] = (False, True)
        super()._set_signal_handlers()


def run_standalone(huey: Huey, jobs: JobsConfig) -> None:
    """Blocks until SIGINT or SIGTERM; must run on the main thread."""
    StandaloneConsumer(huey, worker_type=jobs.worker_type, **_options(jobs)).run()
