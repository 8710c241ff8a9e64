"""A bare Sanic app: the reference that ojin-local's start and uploads are compared to.

`GET /` answers a small JSON document; `GET /body` answers the bytes of the file given with
`--body` (the page of GET /v1/model-variants, so the two serve the same bytes);
`PUT /discard/<anything>` streams the body in and throws it away, the loopback ceiling for a
streamed part upload; `GET /stream/<bytes>` sends that many zero bytes from memory, 1 MiB per
send as ojin-local's object GET does, the loopback ceiling for a download.

It is launched from a Click command with the same `app.run()` mode as ojin_local/server.py
(single process, no MOTD, no access log), so the comparison shows what ojin-local adds on top
of Sanic itself rather than differences in how the two are launched.
"""

from __future__ import annotations

import click
from sanic import Request, Sanic
from sanic.response import HTTPResponse, empty, json

app = Sanic("bare_bench")
SEND = bytes(1024 * 1024)  # the chunk size of ojin-local's object GET
BODY = {"bytes": b"{}"}


@app.get("/")
async def index(request: Request) -> HTTPResponse:
    return json({"status": "ok"})


@app.get("/body")
async def body(request: Request) -> HTTPResponse:
    return HTTPResponse(BODY["bytes"], content_type="application/json")


@app.put("/discard/<name:path>", stream=True)
async def discard(request: Request, name: str) -> HTTPResponse:
    received = 0
    while (chunk := await request.stream.read()) is not None:
        received += len(chunk)
    return empty(headers={"ETag": f'"{received}"'}, status=200)


@app.get("/stream/<size:int>")
async def stream(request: Request, size: int) -> None:
    headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
    response = await request.respond(status=200, headers=headers)
    while size > 0:
        await response.send(SEND if size >= len(SEND) else SEND[:size])
        size -= len(SEND)
    await response.eof()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, required=True)
@click.option("--body", "body_file", type=click.Path(dir_okay=False), help="GET /body's bytes.")
def main(host: str, port: int, body_file: str | None) -> None:
    """Serve the routes until SIGINT/SIGTERM."""
    if body_file:
        with open(body_file, "rb") as source:
            BODY["bytes"] = source.read()
    app.run(host=host, port=port, single_process=True, motd=False, access_log=False)


if __name__ == "__main__":
    main()
