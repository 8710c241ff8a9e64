"""The appliance from the outside, as someone who downloaded it runs it.

By default this drives the installed package's `ojin-local` command; `make dist-test` points
OJIN_LOCAL_COMMAND at the built binary and runs the same test, so the two cannot drift.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, expect

from ojin_local import __version__
from ojin_local.client import OjinClient
from tests.conftest import clean_env, loaded_width, ojin_local_command, s3_storage_config
from tests.moto_server import MotoServer

pytestmark = pytest.mark.blackbox

DEV_KEY = "ojin-local-dev-key"
READY_TIMEOUT = 60.0


def appliance_command() -> list[str]:
    if os.environ.get("OJIN_LOCAL_COMMAND"):
        return ojin_local_command()
    return [str(Path(sys.executable).with_name("ojin-local"))]


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    for child in map(int, children.stdout.split()):
        found |= {child, *descendants(child)}
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Appliance:
    """One `serve --port 0 --ready-file` process (`--ephemeral` unless told) with a private
    TMPDIR, so that everything it unpacks or creates (a frozen binary's files, the ephemeral data
    dir) can be seen to be gone after it stops."""

    def __init__(
        self, root: Path, *args: str, command: list[str] | None = None, ephemeral: bool = True
    ) -> None:
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True)
        self.ready_file = root / "ready"
        self.log = root / "output.log"
        self.started = time.monotonic()
        with self.log.open("w") as log:
            serve = ["serve", "--port", "0", "--ready-file", str(self.ready_file)]
            self.process = subprocess.Popen(
                [*(command or appliance_command()), *serve, *(["--ephemeral"] * ephemeral), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=clean_env({"TMPDIR": str(self.tmp)}),
            )
        self.url = self._wait_ready()
        self.start_seconds = time.monotonic() - self.started

    def _wait_ready(self) -> str:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.ready_file.exists() and self.ready_file.read_text().strip():
                return self.ready_file.read_text().strip()
            assert self.process.poll() is None, self.output()
            time.sleep(0.02)
        self.process.kill()
        raise AssertionError(f"not ready after {READY_TIMEOUT} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text()

    def data_dir(self) -> Path:
        match = re.search(r"data dir:\s+(\S+)", self.output())
        assert match, self.output()
        return Path(match.group(1))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@pytest.fixture(scope="module")
def moto_for_blackbox() -> Iterator[MotoServer]:
    running = MotoServer().start()
    yield running
    running.stop()


def test_version_names_the_release() -> None:
    """The installed package prints its version; a built binary (what OJIN_LOCAL_COMMAND names
    in `make dist-test`) adds the commit it was built from."""
    shown = subprocess.run(
        [*appliance_command(), "--version"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    built = os.environ.get("OJIN_LOCAL_COMMAND")
    commit = r" \(commit [0-9a-f]{12}(\+dirty)?\)" if built else ""
    assert re.fullmatch(rf"ojin-local {re.escape(__version__)}{commit}\n", shown.stdout), (
        shown.stdout
    )


@pytest.mark.parametrize("storage", ["filesystem", "s3"])
def test_serve_upload_generate_download_and_stop_leaving_nothing(
    tmp_path: Path, storage: str, request: pytest.FixtureRequest, browser: Browser
) -> None:
    args: list[str] = []
    if storage == "s3":
        moto: MotoServer = request.getfixturevalue("moto_for_blackbox")
        config = tmp_path / "config.toml"
        config.write_text(s3_storage_config(moto, "ojin-blackbox"))
        args = ["--config", str(config)]
    appliance = Appliance(tmp_path, *args)
    print(f"{storage}: start to ready {appliance.start_seconds:.2f} s")
    processes = {appliance.process.pid, *descendants(appliance.process.pid)}
    data_dir = appliance.data_dir()
    assert data_dir.is_dir()
    assert data_dir.is_relative_to(appliance.tmp)

    root = appliance.url.removesuffix("/v1")
    docs = httpx.get(f"{root}/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    assert httpx.get(f"{root}/docs/static/swagger-ui-bundle.js").status_code == 200
    served = httpx.get(f"{root}/openapi.json")
    assert "/model-configs" in served.json()["paths"]
    assert "alt-svc" not in served.headers  # Sanic's touch-up ran: the binary has its sources
    console_shows_the_templates(browser, root)

    image = tmp_path / "portrait.png"
    Image.new("RGB", (96, 128), (180, 120, 90)).save(image)
    with OjinClient(appliance.url, DEV_KEY) as client:
        assert client.list_model_variants()["data"]
        source = client.upload_file(image, "image")
        assert source["size_bytes"] == image.stat().st_size
        job = client.wait_for_job(client.generate_idle_video(source["asset_id"], "v2")["job_id"])
        assert job["status"] == "succeeded", job.get("error")
        video = tmp_path / "idle.mp4"
        client.download_asset(job["result"]["asset_id"], video)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert sum(1 for _ in container.decode(stream)) >= 25

    assert appliance.stop() == 0, appliance.output()
    assert [pid for pid in processes if alive(pid)] == []
    assert list(appliance.tmp.iterdir()) == [], "left behind in TMPDIR"


def console_shows_the_templates(browser: Browser, root: str) -> None:
    """The console at / loads in a browser: its page, scripts and style sheet come from the command
    under test, and the seeded templates' thumbnails from the storage its CSP allows (this server,
    or the S3 endpoint)."""
    errors: list[str] = []
    context = browser.new_context()
    try:
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{root}/#/assets?source=template")
        thumbnails = page.locator(".asset-card img")
        expect(thumbnails).to_have_count(3)
        for thumbnail in thumbnails.all():
            assert loaded_width(thumbnail) > 0
    finally:
        context.close()
    assert errors == []


def test_a_data_dir_moves_between_this_command_and_the_package(tmp_path: Path) -> None:
    """What one wrote, the other serves: same layout, same database, same storage."""
    data_dir = tmp_path / "data"
    blob = tmp_path / "weights.bin"
    blob.write_bytes(os.urandom(300_000))
    writer = Appliance(tmp_path / "writer", "--data-dir", str(data_dir), ephemeral=False)
    with OjinClient(writer.url, DEV_KEY) as client:
        asset = client.upload_file(blob, "weight")
        config = client.create_model_config("moved", "ojin/oris-1.0/standard", {})
    assert writer.stop() == 0, writer.output()

    package = [sys.executable, "-m", "ojin_local"]
    reader = Appliance(
        tmp_path / "reader", "--data-dir", str(data_dir), command=package, ephemeral=False
    )
    with OjinClient(reader.url, DEV_KEY) as client:
        assert client.get_model_config(config["model_config_id"])["title"] == "moved"
        copy = tmp_path / "copy.bin"
        client.download_asset(asset["asset_id"], copy)
        assert copy.read_bytes() == blob.read_bytes()
    assert reader.stop() == 0, reader.output()
