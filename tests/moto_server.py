"""An in-process moto S3 server on a free loopback port, for the S3 backend's tests.

moto's state is per process, not per server: give each test module its own bucket names.
"""

from __future__ import annotations

from moto.server import ThreadedMotoServer


class MotoServer:
    """Started and stopped by the tests themselves; no Docker, nothing beyond 127.0.0.1."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        return self

    def stop(self) -> None:
        self._server.stop()
