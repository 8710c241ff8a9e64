"""A bare Sanic app: the reference that ojin-local's start and uploads are compared to.

`GET /` answers a small JSON document; `PUT /discard/<anything>` streams the body in and throws
it away, the loopback ceiling for a streamed part upload.

It is launched from a Click command with the same `app.run()` mode as ojin_local/server.py
(single process, no MOTD, no access log), so the comparison shows what ojin-local adds on top
of Sanic itself rather than differences in how the two are launched.
"""

from __future__ import annotations

import click
from sanic import Request, Sanic
from sanic.response import HTTPResponse, empty, json

app = Sanic("bare_bench")


@app.get("/")
async def index(request: Request) -> HTTPResponse:
    return json({"status": "ok"})


@app.put("/discard/<name:path>", stream=True)
async def discard(request: Request, name: str) -> HTTPResponse:
    received = 0
    while (chunk := await request.stream.read()) is not None:
        received += len(chunk)
    return empty(headers={"ETag": f'"{received}"'}, status=200)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, required=True)
def main(host: str, port: int) -> None:
    """Serve the one route until SIGINT/SIGTERM."""
    app.run(host=host, port=port, single_process=True, motd=False, access_log=False)


if __name__ == "__main__":
    main()
