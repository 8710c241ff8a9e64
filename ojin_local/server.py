"""Running the app: one Sanic process, on a socket the CLI has already bound.

Single-process mode starts in about half the time of Sanic's worker manager and avoids its
spawn and shutdown bugs (../shared/notes/stack-findings.md). On SIGINT or SIGTERM the server stops
accepting, drains, runs the stop listeners (closing the database), and `run` returns.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
import threading
from collections.abc import Callable

from sanic import Sanic

from ojin_local.app import create_app, warm_up
from ojin_local.config import Config
from ojin_local.services import Services


def run(
    services: Services,
    listener: socket.socket,
    announce: Callable[[Config, bool], None],
    *,
    with_jobs: bool = True,
    before_close: Callable[[Services], None] | None = None,
) -> None:
    """With jobs, Huey's consumer runs as threads of this process and stops after the server
    (its jobs in flight finish first), before the database closes."""
    app = create_app(services)

    @app.after_server_start
    async def ready(app: Sanic) -> None:
        stop_on_signals(app)
        announce(services.config, services.keys.dev_key_active())
        threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
        # What start-up made (modules, the spec, the catalog: ~45,000 objects) lives as long
        # as the process; frozen, the collector no longer walks it every few hundred requests'
        # worth of allocations (GET /v1/model-variants: ~25% less CPU per request).
        gc.freeze()

    @app.after_server_stop
    async def close(app: Sanic) -> None:
        try:
            if before_close is not None:
                before_close(services)
        finally:
            services.close()

    if with_jobs:
        services.start_consumer()
    serve_forever(app, listener)


def serve_forever(app: Sanic, listener: socket.socket) -> None:
    """One process on the socket the CLI bound, until a signal stops it: Sanic's own signal
    handlers are off, so the app's start listener must call `stop_on_signals`."""
    app.run(
        sock=listener,
        single_process=True,
        access_log=False,
        motd=False,
        register_sys_signals=False,
    )


def stop_on_signals(app: Sanic) -> None:
    """SIGINT and SIGTERM stop `app` (run with Sanic's own handlers off, `register_sys_signals`).

    Sanic's own handlers are uvloop handlers that stop the loop at once: a SIGTERM sent while
    start-up still ran was lost about 1 time in 15, and beside a handler of ours one signal
    stopped the loop twice, the second time in the middle of Sanic's drain of open connections.
    A plain Python handler always runs; only the first signal counts, so a second Ctrl-C cannot
    cut the drain short either."""
    loop = asyncio.get_running_loop()
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            loop.call_soon_threadsafe(stop_when_serving, app, loop)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)


def stop_when_serving(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
    """Stop the server, first waiting until it serves if start-up is still running.

    Stopping the loop while a start-up step runs would end only that step, and the server would
    then serve on, deaf to the signal that was meant to stop it.
    """
    if app.state.is_running:
        app.stop(terminate=False)
    else:
        loop.call_later(0.01, stop_when_serving, app, loop)
