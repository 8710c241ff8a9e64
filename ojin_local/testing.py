"""A pytest plugin (registered through the `pytest11` entry point): a real ojin-local server for
your own integration tests.

    def test_my_uploader(ojin_local):
        my_app = MyApp(base_url=ojin_local.url, api_key=ojin_local.api_key)
        my_app.upload("avatar.png")
        assert ojin_local.client.list_assets()["pagination"]["total_items"] == 1

`ojin_local` gives each test a namespace of its own (POST /_ojin/namespaces) on one server: two
fresh organizations (`api_key` and `client`, `other_api_key` and `other_client`, to test
isolation), their clock (`advance_clock(seconds)`), fault rules that touch only them
(`add_fault(...)`) and their journal (`requests(...)`). The namespace is deleted after the test,
so tests never see each other's data and need no reset. `--ojin-isolation reset` resets the
whole server before each test instead (then the keys are `org_test`'s, an admin, and
`org_other`'s, and under pytest-xdist each worker has a server of its own).

`ojin_local_server` is the server, started once per run: `ojin-local serve` on a free port with a
throw-away data dir. Under pytest-xdist every worker uses the same one: the first worker to need
it starts it, under a file lock, and the controller stops it after the last worker ends, leaving
no process and no data dir behind.

Options: `--ojin-storage filesystem|s3` (s3: a moto server, `pip install 'ojin-local[testing-s3]'`),
`--ojin-jobs-delay SECONDS`, `--ojin-config PATH` (a TOML file merged over the plugin's),
`--ojin-isolation namespace|reset`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ojin_local.client import OjinClient

API_KEY = "sk-ojin-local-test"
OTHER_API_KEY = "sk-ojin-local-other"
START_TIMEOUT = 30.0
RUN_DIR = "OJIN_PYTEST_RUN_DIR"
"""The run's folder (server state, lock, data dir), set by the controller for its workers."""
S3_EXTRA = "pip install 'ojin-local[testing-s3]'"
NAME_LIMIT = 200  # the longest namespace name the API takes
STATE = "state.json"  # a server's pid, moto's and the URL, in the folder it runs from


@dataclass
class OjinLocal:
    url: str
    api_key: str
    other_api_key: str
    client: OjinClient
    other_client: OjinClient
    namespace_id: str | None
    """The test's namespace; None with `--ojin-isolation reset`."""
    admin: OjinClient
    """An admin client of the server, for what the fixture's own helpers do not cover."""
    data_dir: Path

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move this test's clock forward (its namespace's; the server's with reset isolation):
        timestamps, pre-signed URL expiry, upload-session expiry and delayed jobs follow."""
        return self.admin.advance_clock(seconds, self.namespace_id)

    def reset(self) -> None:
        """Empty this test's world again (its namespace, or the whole server)."""
        if self.namespace_id is None:
            self.admin.reset()
        else:
            self.admin.reset_namespace(self.namespace_id)

    def add_fault(self, **rule: Any) -> dict[str, Any]:
        """A fault rule (POST /_ojin/faults) that only this test's requests meet."""
        if self.namespace_id is not None:
            rule.setdefault("namespace_id", self.namespace_id)
        return self.admin.add_fault(**rule)

    def requests(self, **filters: Any) -> list[dict[str, Any]]:
        """This test's requests, newest first (GET /_ojin/requests)."""
        if self.namespace_id is not None:
            filters.setdefault("namespace_id", self.namespace_id)
        return self.admin.list_requests(**filters)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ojin-local", "the ojin-local server fixtures")
    group.addoption(
        "--ojin-storage",
        choices=("filesystem", "s3"),
        default="filesystem",
        help=f"storage backend of the ojin_local server (s3: a moto server; {S3_EXTRA})",
    )
    group.addoption(
        "--ojin-jobs-delay",
        type=int,
        default=0,
        help="seconds every idle-video job waits before it runs",
    )
    group.addoption("--ojin-config", default=None, help="a TOML file merged over the defaults")
    group.addoption(
        "--ojin-isolation",
        choices=("namespace", "reset"),
        default="namespace",
        help="each test in a namespace of its own (default), or the whole server reset",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("ojin_storage") == "s3" and importlib.util.find_spec("moto") is None:
        raise pytest.UsageError(f"--ojin-storage s3 runs moto's S3 server: {S3_EXTRA}")
    if not hasattr(config, "workerinput"):  # the controller, or a run without xdist
        run = Path(tempfile.mkdtemp(prefix="ojin-local-pytest-"))
        config.stash[_run_key] = run
        os.environ[RUN_DIR] = str(run)  # xdist's workers inherit it


def pytest_unconfigure(config: pytest.Config) -> None:
    """After the last test of the last worker: stop what the run started, remove its files."""
    run = config.stash.get(_run_key, None)
    if run is None:
        return
    for folder in {path.parent for path in run.rglob(STATE)}:
        state = _read_state(folder)
        for pid in (state.get("server_pid"), state.get("moto_pid")):
            if pid is not None:
                _stop(pid)
    shutil.rmtree(run, ignore_errors=True)


_run_key = pytest.StashKey[Path]()


@dataclass(frozen=True)
class Running:
    url: str
    data_dir: Path


@pytest.fixture(scope="session")
def ojin_local_transport() -> Iterator[Any]:
    """One connection pool for every client the fixtures make (see `_KeptOpen`)."""
    import httpx

    with httpx.HTTPTransport() as transport:
        yield _KeptOpen(transport)


@pytest.fixture(scope="session")
def ojin_local_server(
    pytestconfig: pytest.Config, ojin_local_transport: Any
) -> Iterator[OjinLocal]:
    """The run's server, with the plugin's two keys; see the module docstring."""
    from ojin_local.client import OjinClient

    running = _shared_server(pytestconfig)
    shared = ojin_local_transport
    with (
        OjinClient(running.url, API_KEY, transport=shared) as admin,
        OjinClient(running.url, OTHER_API_KEY, transport=shared) as other,
    ):
        yield OjinLocal(
            running.url, API_KEY, OTHER_API_KEY, admin, other, None, admin, running.data_dir
        )


@pytest.fixture
def ojin_local(
    ojin_local_server: OjinLocal, ojin_local_transport: Any, request: pytest.FixtureRequest
) -> Iterator[OjinLocal]:
    """This test's world: a fresh namespace (deleted afterwards), or the server reset."""
    from ojin_local.client import OjinClient

    server = ojin_local_server
    if request.config.getoption("ojin_isolation") == "reset":
        server.admin.reset()
        yield server
        return
    created = server.admin.create_namespace(request.node.nodeid[-NAME_LIMIT:])
    shared = ojin_local_transport
    try:
        with (
            OjinClient(server.url, created["api_key"], transport=shared) as client,
            OjinClient(server.url, created["other_api_key"], transport=shared) as other,
        ):
            yield OjinLocal(
                server.url,
                created["api_key"],
                created["other_api_key"],
                client,
                other,
                created["namespace_id"],
                server.admin,
                server.data_dir,
            )
    finally:
        server.admin.delete_namespace(created["namespace_id"])


class _KeptOpen:
    """The session's transport for every test's clients: a client made per test would load the
    CA bundle again (~27 ms each, four per test), and closing one must not close it for all."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport

    def handle_request(self, request: Any) -> Any:
        return self._transport.handle_request(request)

    def close(self) -> None:
        """The session fixture closes the transport itself."""

    def __enter__(self) -> _KeptOpen:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _shared_server(pytestconfig: pytest.Config) -> Running:
    """The run's server: started by whichever process asks first, under the run's lock. With
    reset isolation each xdist worker has a server of its own (a reset would wipe out the
    tests of the others)."""
    from filelock import FileLock

    folder = Path(os.environ[RUN_DIR])
    if pytestconfig.getoption("ojin_isolation") == "reset":
        folder /= os.environ.get("PYTEST_XDIST_WORKER", "main")
        folder.mkdir(exist_ok=True)
    with FileLock(folder / "lock"):
        state = _read_state(folder)
        if "url" not in state:
            state = _start(folder, pytestconfig)
            (folder / STATE).write_text(json.dumps(state))
    return Running(state["url"], folder / "data")


def _read_state(folder: Path) -> dict[str, Any]:
    path = folder / STATE
    return json.loads(path.read_text()) if path.exists() else {}


def _start(run: Path, pytestconfig: pytest.Config) -> dict[str, Any]:
    """`ojin-local serve` (and moto, for S3) in processes of their own, which outlive the worker
    that started them: the controller stops them (pytest_unconfigure)."""
    import tomli_w

    config: dict[str, Any] = {
        "api_keys": [
            {"key": API_KEY, "organization_id": "org_test", "user_id": "user_test", "admin": True},
            {"key": OTHER_API_KEY, "organization_id": "org_other", "user_id": "user_other"},
        ],
        "jobs": {"idle_video_delay_seconds": pytestconfig.getoption("ojin_jobs_delay")},
    }
    state: dict[str, Any] = {}
    if pytestconfig.getoption("ojin_storage") == "s3":
        port = _free_port()
        moto = _spawn(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            run / "moto.log",
        )
        state["moto_pid"] = moto.pid
        (run / STATE).write_text(json.dumps(state))  # stopped even if the server fails
        _wait_for_port(port, moto, run / "moto.log")
        config["storage"] = {
            "backend": "s3",
            "s3": {
                "bucket": "ojin-local-pytest",
                "endpoint_url": f"http://127.0.0.1:{port}",
                "access_key_id": "testing",
                "secret_access_key": "testing",
                "create_bucket": True,
            },
        }
    extra = pytestconfig.getoption("ojin_config")
    if extra:
        config = _merged(config, tomllib.loads(Path(extra).read_text()))
    (run / "config.toml").write_text(tomli_w.dumps(config))
    ready, log = run / "ready", run / "server.log"
    server = _spawn(
        [sys.executable, "-m", "ojin_local", "serve", "--port", "0",
         "--data-dir", str(run / "data"), "--config", str(run / "config.toml"),
         "--ready-file", str(ready), "--log-level", "warning"],
        log,
    )  # fmt: skip
    state["server_pid"] = server.pid
    (run / STATE).write_text(json.dumps(state))
    deadline = time.monotonic() + START_TIMEOUT
    while not ready.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"ojin-local did not start:\n{_tail(log)}")
        time.sleep(0.02)
    state["url"] = ready.read_text().strip()
    return state


def _spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto's S3 server did not start:\n{_tail(log)}") from None
            time.sleep(0.05)


def _stop(pid: int) -> None:
    """SIGTERM (ojin-local finishes its jobs and closes its database), then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if _reaped(pid):
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def _reaped(pid: int) -> bool:
    """Gone, or a zombie of this process (its own child, when this process started it)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:  # another process's child: gone once kill(0) fails
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


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
