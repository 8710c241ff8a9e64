"""The console in a real browser: Playwright driving Debian's Chromium against real servers.

One browser for the session and one server per module; each test gets a fresh browser context
(its own sessionStorage), whose every request goes through a handler that records its host and
refuses anything but 127.0.0.1, and whose console errors and uncaught exceptions are collected.
A test that provokes HTTP errors on purpose names the statuses it expects; any other browser
error fails it. Screenshots go to build/test-output/console/.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, Route

from ojin_local.config import DEV_KEY
from tests.conftest import Api, Server
from tests.contract import Contract

OUTPUT = Path(__file__).resolve().parents[2] / "build" / "test-output" / "console"
LOOPBACK = "127.0.0.1"
# Chromium's own line for an HTTP error answer to fetch or XHR.
HTTP_ERROR = re.compile(r"the server responded with a status of (\d+)")
# Small and quick: the consumer renders small videos, and holding each job back a second lets
# a test see it queued before it runs.
DEV_CONFIG = """
[jobs]
idle_video_max_side = 96
idle_video_delay_seconds = 1
"""


@dataclass
class Console:
    """One browser context on one server's console, and what happened in it."""

    page: Page
    base: str
    hosts: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    http_errors: list[int] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    expected: set[int] = field(default_factory=set)

    def open(self, route: str = "") -> Page:
        self.page.goto(f"{self.base}/#/{route}")
        self.page.wait_for_selector("main .page, main .key-card")
        return self.page

    def shot(self, name: str) -> None:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        self.page.wait_for_load_state("networkidle")
        self.page.evaluate("window.scrollTo(0, 0)")  # sticky bars drawn where they belong
        self.page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)

    def expect_http_errors(self, *statuses: int) -> None:
        """Statuses this test provokes on purpose (Chromium logs each as a console error)."""
        self.expected |= set(statuses)

    def check(self) -> None:
        assert self.hosts <= {LOOPBACK}, f"requests left 127.0.0.1: {self.hosts}"
        assert self.errors == [], self.errors
        assert set(self.http_errors) <= self.expected, self.http_errors
        assert self.dialogs == [], f"the page opened dialogs: {self.dialogs}"


@pytest.fixture
def console(browser: Browser) -> Iterator[Any]:
    """Open a server's console in a fresh context: `console(server)`; checked afterwards."""
    opened: list[Console] = []

    def open_console(server: Server, viewport: tuple[int, int] = (1366, 900)) -> Console:
        context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=True
        )
        context.set_default_timeout(10_000)
        page = context.new_page()
        made = Console(page, server.url)

        def through(route: Route) -> None:
            host = urlsplit(route.request.url).hostname or ""
            made.hosts.add(host)
            if host == LOOPBACK:
                route.continue_()
            else:
                route.abort()

        def on_console(message: Any) -> None:
            if message.type != "error":
                return
            status = HTTP_ERROR.search(message.text)
            if status:
                made.http_errors.append(int(status[1]))
            else:
                made.errors.append(message.text)

        context.route("**/*", through)
        page.on("console", on_console)
        page.on("pageerror", lambda error: made.errors.append(f"uncaught: {error}"))
        page.on("dialog", lambda dialog: (made.dialogs.append(dialog.message), dialog.dismiss()))
        opened.append(made)
        return made

    yield open_console
    for made in opened:
        made.page.context.close()
    for made in opened:
        made.check()


def start_server(root: Path, config: str) -> Server:
    (root / "config.toml").write_text(config)
    return Server(root / "data", ["--config", str(root / "config.toml")]).start()


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """No key configured, so the development key is active: the laptop case."""
    running = start_server(tmp_path_factory.mktemp("console-dev"), DEV_CONFIG)
    yield running
    running.stop()


@pytest.fixture
def dev_api(dev_server: Server, contract: Contract) -> Iterator[Api]:
    """Another client of the same server, with the development key."""
    with Api(dev_server.url, contract, DEV_KEY) as client:
        yield client


def png(size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    """A real image (thumbnails and the idle-video generator decode it)."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def stored_bytes(api: Api, asset_id: str) -> bytes:
    url = api.get(f"/v1/assets/{asset_id}/download").json()["asset_url"]
    return httpx.get(url, timeout=30).content


def assets_named(api: Api, name: str) -> list[dict]:
    return api.get("/v1/assets", params={"name": name}).json()["data"]
