"""Running the app: one Sanic process, on a socket the CLI has already bound.

Single-process mode starts in about half the time of Sanic's worker manager and avoids its
spawn and shutdown bugs (../shared/notes/stack-findings.md). Sanic handles SIGINT and SIGTERM:
it stops accepting, drains, runs the stop listeners, and this function returns.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from sanic import Sanic

from ojin_local.app import create_app
from ojin_local.config import Config
from ojin_local.services import Services


def run(
    services: Services, listener: socket.socket, announce: Callable[[Config, bool], None]
) -> None:
    app = create_app(services)

    @app.after_server_start
    async def ready(app: Sanic) -> None:
        announce(services.config, services.keys.dev_key_active())

    @app.after_server_stop
    async def close(app: Sanic) -> None:
        services.close()

    app.run(sock=listener, single_process=True, access_log=False, motd=False)
