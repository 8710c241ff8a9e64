"""A pytest plugin (registered through the `pytest11` entry point): a real ojin-local server for
your own integration tests.

    def test_my_uploader(ojin_local):
        my_app = MyApp(base_url=ojin_local.url, api_key=ojin_local.api_key)
        my_app.upload("avatar.png")
        assert ojin_local.client.list_assets()["pagination"]["total_items"] == 1

`ojin_local_server` (session scope) starts `ojin-local serve` once on a free port with a
throw-away data dir; `ojin_local` (function scope) resets it to the seed state before each test.
Both yield an `OjinLocal`: `url` (the API base, `/v1` included), `api_key` (organization
`org_test`, admin, so `reset()` and the fault and journal helpers work), `other_api_key`
(`org_other`, to test isolation), `client` and `other_client` (`ojin_local.client.OjinClient`).

Options: `--ojin-storage filesystem|s3` (s3: an in-process moto server, needs moto[server]),
`--ojin-jobs-delay SECONDS`, `--ojin-config PATH` (a TOML file merged over the plugin's).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ojin_local.client import OjinClient

API_KEY = "sk-ojin-local-test"
OTHER_API_KEY = "sk-ojin-local-other"
START_TIMEOUT = 30.0


@dataclass
class OjinLocal:
    url: str
    api_key: str
    other_api_key: str
    client: OjinClient
    other_client: OjinClient
    data_dir: Path

    def reset(self) -> None:
        """Back to the seed state: records, objects, queued jobs, fault rules, the journal."""
        self.client.reset()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ojin-local", "the ojin-local server fixtures")
    group.addoption(
        "--ojin-storage",
        choices=("filesystem", "s3"),
        default="filesystem",
        help="storage backend of the ojin_local server (s3: an in-process moto server)",
    )
    group.addoption(
        "--ojin-jobs-delay",
        type=int,
        default=0,
        help="seconds every idle-video job waits before it runs",
    )
    group.addoption("--ojin-config", default=None, help="a TOML file merged over the defaults")


@pytest.fixture(scope="session")
def ojin_local_server(pytestconfig: pytest.Config) -> Iterator[OjinLocal]:
    """One server for the session; see the module docstring."""
    with tempfile.TemporaryDirectory(prefix="ojin-local-pytest-") as scratch:
        root = Path(scratch)
        config: dict[str, Any] = {
            "api_keys": [
                {"key": API_KEY, "organization_id": "org_test", "user_id": "user_test",
                 "admin": True},
                {"key": OTHER_API_KEY, "organization_id": "org_other", "user_id": "user_other"},
            ],
            "jobs": {"idle_video_delay_seconds": pytestconfig.getoption("ojin_jobs_delay")},
        }  # fmt: skip
        moto = None
        if pytestconfig.getoption("ojin_storage") == "s3":
            from moto.server import ThreadedMotoServer

            moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            moto.start()
            host, port = moto.get_host_and_port()
            config["storage"] = {
                "backend": "s3",
                "s3": {
                    "bucket": "ojin-local-pytest",
                    "endpoint_url": f"http://{host}:{port}",
                    "access_key_id": "testing",
                    "secret_access_key": "testing",
                    "create_bucket": True,
                },
            }
        extra = pytestconfig.getoption("ojin_config")
        if extra:
            config = _merged(config, tomllib.loads(Path(extra).read_text()))
        try:
            with _serving(root, config) as server:
                yield server
        finally:
            if moto is not None:
                moto.stop()


@pytest.fixture
def ojin_local(ojin_local_server: OjinLocal) -> OjinLocal:
    """The session's server, reset to the seed state for this test."""
    ojin_local_server.reset()
    return ojin_local_server


@contextmanager
def _serving(root: Path, config: dict[str, Any]) -> Iterator[OjinLocal]:
    """`ojin-local serve` in a child process, waited for through its --ready-file."""
    import tomli_w

    from ojin_local.client import OjinClient

    (root / "config.toml").write_text(tomli_w.dumps(config))
    ready, log_path = root / "ready", root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ojin_local", "serve", "--port", "0",
             "--data-dir", str(root / "data"), "--config", str(root / "config.toml"),
             "--ready-file", str(ready), "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                output = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"ojin-local did not start:\n{output}")
            time.sleep(0.02)
        url = ready.read_text().strip()
        with OjinClient(url, API_KEY) as client, OjinClient(url, OTHER_API_KEY) as other:
            yield OjinLocal(url, API_KEY, OTHER_API_KEY, client, other, root / "data")
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; arrays of tables (api_keys, model_variants) are appended."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        elif isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = [*merged[key], *value]
        else:
            merged[key] = value
    return merged
