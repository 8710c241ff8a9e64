"""The proxy's fixtures: `ojin-local proxy` processes, stub upstreams, and one recorded session.

The upstream is a second `ojin-local serve` (no external network); where a test needs an upstream
that breaks the seed spec on purpose, a stub `http.server` in this process answers instead.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.conftest import (
    TEST_CONFIG,
    Api,
    Child,
    s3_storage_config,
    wait_until,
)

BANNER = re.compile(r"proxy at (?P<url>http://\S+)/v1 forwarding to")
# Small videos, and jobs held back long enough that a session polls at least twice.
UPSTREAM_CONFIG = TEST_CONFIG + "\n[jobs]\nidle_video_max_side = 64\n"
RECORDING_CONFIG = UPSTREAM_CONFIG + "idle_video_delay_seconds = 1\n"
PORTRAIT = "a1f0c3d2-5b6e-4c7d-8e9f-0a1b2c3d4e01"  # the demo seed's first template image
MIB = 1024 * 1024


class Proxy(Child):
    """One `ojin-local proxy` child process; its output is kept (the summary comes at exit)."""

    banner = BANNER

    def __init__(self, upstream: str, *args: str) -> None:
        super().__init__()
        self.launch("proxy", "--upstream", upstream, "--port", "0", *args)

    def drift(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/_ojin/drift")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def start_proxy() -> Iterator[Callable[..., Proxy]]:
    started: list[Proxy] = []

    def start(upstream: str, *args: str) -> Proxy:
        proxy = Proxy(upstream, *args)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@dataclass
class Stub:
    """A stand-in upstream answering each path with a fixed (status, headers, body), and
    keeping what it was sent."""

    answers: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    delay: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def stub() -> Iterator[Stub]:
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            state.received.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                 "body": body}
            )  # fmt: skip
            time.sleep(state.delay)
            status, headers, content = state.answers.get(
                self.path.split("?")[0], (404, {"content-type": "application/json"},
                                          b'{"code": "RESOURCE_NOT_FOUND", "message": "stub"}')
            )  # fmt: skip
            self.send_response(status)
            for name, value in {**headers, "content-length": str(len(content))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.handle_error = lambda request, address: None  # type: ignore[method-assign]
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def json_answer(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json"}, json.dumps(body).encode()


def upstream_config(backend: str, moto: Any, bucket: str) -> str:
    return UPSTREAM_CONFIG + (s3_storage_config(moto, bucket) if backend == "s3" else "")


@dataclass
class Session:
    """What a session made, to check it afterwards."""

    requests: int
    asset: dict[str, Any]
    video: dict[str, Any]
    part_urls: list[str]


def run_session(api: Api, http: httpx.Client) -> Session:
    """A client's whole session: variants, configuration CRUD, a two-part upload (the parts PUT
    straight to the pre-signed URLs), finalize, download, and an idle video from a template
    image, polled for through the asset list."""
    sent = []
    api.event_hooks["request"].append(sent.append)
    assert api.get("/v1/model-variants").status_code == 200
    assert api.get("/v1/model-variants/acme/echo-1.0/basic").status_code == 200
    config = api.create_config()
    config_path = f"/v1/model-configs/{config['model_config_id']}"
    assert api.get(config_path).status_code == 200
    update = {"title": f"{config['title']} v2", "model_configurations": {}}
    assert api.put(config_path, json=update).status_code == 200
    assert api.get("/v1/model-configs").status_code == 200

    parts = [bytes([7]) * (5 * MIB), b"the last part"]
    upload = api.start_upload("notes.bin", "weight", content_type="application/octet-stream")
    part_urls = []
    listed = []
    for number, data in enumerate(parts, start=1):
        signed = api.post(
            "/v1/assets/sign-part",
            json={"asset_id": upload["asset_id"], "upload_id": upload["upload_id"],
                  "part_number": number},
        )  # fmt: skip
        assert signed.status_code == 200, signed.text
        part_urls.append(signed.json()["upload_url"])
        put = http.put(part_urls[-1], content=data)
        assert put.status_code == 200, put.text
        listed.append({"part_number": number, "etag": put.headers["etag"]})
    size = sum(map(len, parts))
    finalized = api.finalize(upload, listed, size, name="notes.bin", category="weight",
                             content_type="application/octet-stream")  # fmt: skip
    assert finalized.status_code == 201, finalized.text
    asset = finalized.json()
    assert api.get(f"/v1/assets/{asset['asset_id']}").status_code == 200
    download = api.get(f"/v1/assets/{asset['asset_id']}/download")
    assert http.get(download.json()["asset_url"]).content == b"".join(parts)

    generated = api.post(
        "/v1/assets/generate/ojin/oris-1.0-idle-video-generator",
        json={"source_asset_id": PORTRAIT, "reference_template": "v2"},
    )
    assert generated.status_code == 202, generated.text

    def video() -> dict[str, Any] | None:
        page = api.get("/v1/assets", params={"category": "video"}).json()["data"]
        return page[0] if page else None

    made = wait_until(video, timeout=60)
    assert made is not None
    shown = api.get(f"/v1/assets/{made['asset_id']}/download").json()
    assert http.get(shown["asset_url"]).content[4:8] == b"ftyp"
    assert api.delete(config_path).status_code == 204
    assert api.get(config_path).status_code == 404
    api.event_hooks["request"].remove(sent.append)
    return Session(len(sent), asset, made, part_urls)
