"""Shared fixtures: real `ojin-local serve` processes on free ports, and clients for them.

Every client validates every JSON response it receives against the contract (see contract.py).
"""

from __future__ import annotations

import mimetypes
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.contract import Contract
from tests.moto_server import MotoServer
from tests.postgres_server import PostgresServer
from tests.redis_server import RedisServer
from tests.target import Target, remote_target

START_TIMEOUT = 20.0
# The backends `every_database` tests run on; "shared" is the shared instance: Postgres, Redis,
# two API processes (`serve --processes 2`) and an `ojin-local worker` for the jobs.
DATABASES = tuple(os.environ.get("OJIN_TEST_DATABASES", "sqlite,postgres,shared").split(","))
DATABASE_URL = "OJIN_LOCAL_DATABASE_URL"
PROCESSES = "OJIN_LOCAL_SERVER_PROCESSES"
BANNER = re.compile(r"serving the Ojin API at (?P<url>http://\S+)/v1")

ALICE_KEY = "sk-test-alice"
BOB_KEY = "sk-test-bob"
ADMIN_KEY = "sk-test-admin"
TEMPLATE_KEY = "sk-test-template"
PAGER_KEY = "sk-test-pager"

TEST_CONFIG = f"""
[organizations]
template = "org_template"

[[api_keys]]
key = "{ALICE_KEY}"
organization_id = "org_alice"
user_id = "user_alice"

[[api_keys]]
key = "{BOB_KEY}"
organization_id = "org_bob"
user_id = "user_bob"

[[api_keys]]
key = "{ADMIN_KEY}"
organization_id = "org_ops"
user_id = "user_ops"
admin = true

[[api_keys]]
key = "{TEMPLATE_KEY}"
organization_id = "org_template"
user_id = "user_curator"

[[api_keys]]
key = "{PAGER_KEY}"
organization_id = "org_pager"
user_id = "user_pager"

[[model_variants]]
model_variant_id = "acme/echo-1.0/basic"
model_id = "acme/echo-1.0"
title = "Echo Basic"
status = "public"
tags = ["test-only"]
description = {{ summary = "A variant added by the config file." }}

[model_variants.configuration_schema]
type = "object"
required = ["voice"]
properties = {{ voice = {{ type = "string", enum = ["low", "high"] }} }}
"""


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract()


class Child:
    """One `ojin-local` child process (`serve`, `proxy`): its stdout and stderr kept for
    assertions, its URL read off its banner line."""

    banner = BANNER

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = env or {}
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.output: list[str] = []

    def launch(self, *args: str) -> None:
        self.output = []
        self.process = subprocess.Popen(
            [*ojin_local_command(), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=clean_env(self.env),
        )
        found = threading.Event()
        threading.Thread(target=self._read_output, args=(found,), daemon=True).start()
        if not found.wait(START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"ojin-local {args[0]} did not start:\n" + self.log)

    def _read_output(self, found: threading.Event) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            match = self.banner.search(line)
            if match:
                self.url = match["url"]
                found.set()

    @property
    def log(self) -> str:
        return "".join(self.output)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class Server(Child):
    """One `ojin-local serve` child process on a free port; with several API processes (the
    shared profile), an `ojin-local worker` beside it runs the jobs (unless `--no-jobs`)."""

    def __init__(self, data_dir: Path, args: list[str], env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.data_dir = data_dir
        self.args = args
        self.worker: Worker | None = None

    def start(self) -> Server:
        self.launch("serve", "--port", "0", "--data-dir", str(self.data_dir), *self.args)
        jobs = "--no-jobs" not in self.args
        if int(self.env.get(PROCESSES, "1")) > 1 and jobs and self.worker is None:
            config = self.args[self.args.index("--config") :][:2] if "--config" in self.args else []
            self.worker = Worker(self.data_dir, config, self.env).start()
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        return super().stop(sig)

    def api_processes(self) -> list[int]:
        """The pids of the API processes of `serve --processes N` (its children)."""
        assert self.process is not None
        found = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True
        )
        return [int(pid) for pid in found.stdout.split()]

    def restart(self) -> Server:
        self.stop()
        return self.start()

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite file of this server's records, or None when they are in Postgres."""
        url = self.env.get(DATABASE_URL, "")
        if url.startswith("postgresql://"):
            return None
        return Path(url.removeprefix("sqlite:///")) if url else self.data_dir / "ojin-local.sqlite3"

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run SQL (`?` placeholders) on this server's database, whichever it is, as another
        program would: committed when it returns."""
        if self.sqlite_file is not None:
            with closing(sqlite3.connect(self.sqlite_file)) as db, db:
                return db.execute(statement, params).fetchall()
        import psycopg

        with psycopg.connect(self.env[DATABASE_URL], autocommit=True) as db:
            cursor = db.execute(statement.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []


class Worker(Child):
    """`ojin-local worker` on a server's data dir and config (and so its database and queue)."""

    banner = re.compile(r"running jobs from (?P<url>\S+)")

    def __init__(self, data_dir: Path, config_args: list[str], env: dict[str, str]) -> None:
        super().__init__(env)
        self.data_dir = data_dir
        self.config_args = config_args

    def start(self) -> Worker:
        self.launch("worker", "--data-dir", str(self.data_dir), *self.config_args)
        return self


def ojin_local_command() -> list[str]:
    """How tests start ojin-local: this interpreter's package, or the command named by
    OJIN_LOCAL_COMMAND (`make dist-test` names the built binary)."""
    command = os.environ.get("OJIN_LOCAL_COMMAND")
    return shlex.split(command) if command else [sys.executable, "-m", "ojin_local"]


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OJIN_LOCAL_")}
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ojin_local_command(), *args],
        capture_output=True,
        text=True,
        env=clean_env(env or {}),
        timeout=20,
    )


class Api(httpx.Client):
    """An httpx client for one server and key, checking each response against the contract."""

    def __init__(self, base_url: str, contract: Contract, key: str | None = None) -> None:
        headers = {"X-API-Key": key} if key else {}
        super().__init__(
            base_url=base_url,
            headers=headers,
            timeout=30,
            event_hooks={"response": [self._check]},
        )
        self.contract = contract

    def _check(self, response: httpx.Response) -> None:
        response.read()
        self.contract.check(response)

    def create_config(self, **fields: Any) -> dict[str, Any]:
        body = {
            "title": f"config-{uuid.uuid4().hex[:10]}",
            "model_variant_id": "ojin/oris-1.0/standard",
            "model_configurations": {},
            **fields,
        }
        response = self.post("/v1/model-configs", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def start_upload(self, name: str = "photo.png", category: str = "image", **extra: Any) -> dict:
        response = self.post(
            "/v1/assets/initiate-upload", json={"name": name, "category": category, **extra}
        )
        assert response.status_code == 200, response.text
        return response.json()

    def put_parts(self, session: dict, parts: list[bytes], first: int = 1) -> list[dict]:
        """PUT each part to its pre-signed URL (no API key, as a browser would)."""
        listed = []
        for number, data in enumerate(parts, start=first):
            signed = self.post(
                "/v1/assets/sign-part",
                json={
                    "asset_id": session["asset_id"],
                    "upload_id": session["upload_id"],
                    "part_number": number,
                },
            )
            assert signed.status_code == 200, signed.text
            put = httpx.put(signed.json()["upload_url"], content=data, timeout=60)
            assert put.status_code == 200, put.text
            listed.append({"part_number": number, "etag": put.headers["etag"]})
        return listed

    def finalize(self, session: dict, parts: list[dict], size: int, **overrides: Any) -> Any:
        body = {
            "asset_id": session["asset_id"],
            "upload_id": session["upload_id"],
            "name": "photo.png",
            "category": "image",
            "content_type": "image/png",
            "size_bytes": size,
            "parts": parts,
            **overrides,
        }
        return self.post("/v1/assets", json=body)

    def upload(
        self, data: bytes | list[bytes], name: str = "photo.png", category: str = "image"
    ) -> dict:
        """The whole client flow, in one part or in the parts given; returns the Asset."""
        parts = [data] if isinstance(data, bytes) else data
        session = self.start_upload(name, category)
        listed = self.put_parts(session, parts)
        size = sum(map(len, parts))
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        response = self.finalize(
            session, listed, size, name=name, category=category, content_type=content_type
        )
        assert response.status_code == 201, response.text
        return response.json()


GENERATE = "/v1/assets/generate/ojin/oris-1.0-idle-video-generator"


def generate(client: Api, source_asset_id: str, template: str | None = None) -> str:
    """Start an idle-video job; returns its id."""
    body = {"source_asset_id": source_asset_id}
    if template is not None:
        body["reference_template"] = template
    response = client.post(GENERATE, json=body)
    assert response.status_code == 202, response.text
    return response.json()["job_id"]


def wait_for_job(client: Api, job_id: str, timeout: float = 60.0) -> dict:
    """Poll as a client would, until the job succeeds or fails."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def configured_server(root: Path, config_text: str, env: dict[str, str] | None = None) -> Server:
    config = root / "config.toml"
    config.write_text(config_text)
    return Server(root / "data", ["--config", str(config)], env).start()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throw-away Postgres server for the session; each test server a database on it."""
    try:
        running = PostgresServer().start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield running
    running.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `every_database` run once per database backend, with a server of each;
    marked `every_database(shared_in_test_all=True)`, on the shared profile only with
    OJIN_TEST_ALL=1 (`make test-all`), to keep `make test` within CI's time."""
    marker = metafunc.definition.get_closest_marker("every_database")
    if "database" not in metafunc.fixturenames or marker is None:
        return
    backends = DATABASES
    if marker.kwargs.get("shared_in_test_all") and not os.environ.get("OJIN_TEST_ALL"):
        backends = tuple(backend for backend in DATABASES if backend != "shared")
    metafunc.parametrize("database", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def database(request: pytest.FixtureRequest) -> str:
    """The database backend of this test's servers: SQLite unless marked `every_database`."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    """One throw-away Redis server for the session; each shared-profile server a database of it."""
    try:
        running = RedisServer().start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def database_env(request: pytest.FixtureRequest) -> Any:
    """The environment that gives a new server a fresh, empty database of a backend (and, on
    the shared profile, a queue of its own and two API processes)."""

    def env(backend: str) -> dict[str, str]:
        if backend == "sqlite":
            return {}  # the data dir's own file
        postgres: PostgresServer = request.getfixturevalue("postgres")
        made = {DATABASE_URL: postgres.create_database()}
        if backend == "shared":
            redis: RedisServer = request.getfixturevalue("redis")
            made.update(
                {
                    "OJIN_LOCAL_JOBS_QUEUE": "redis",
                    "OJIN_LOCAL_JOBS_REDIS_URL": redis.database_url(),
                    PROCESSES: "2",
                }
            )
        return made

    return env


class SessionServers:
    """The servers tests share for the session, one per database backend and storage backend,
    each configured with several organizations' keys (so no dev key), started on first use."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self._running: dict[tuple[str, bool], Server] = {}

    def get(self, database: str, s3: bool = False) -> Server:
        if (database, s3) not in self._running:
            config = TEST_CONFIG
            if s3:
                moto: MotoServer = self._request.getfixturevalue("moto")
                config += s3_storage_config(moto, f"ojin-session-{database}")
            factory: pytest.TempPathFactory = self._request.getfixturevalue("tmp_path_factory")
            env = self._request.getfixturevalue("database_env")(database)
            root = factory.mktemp("session-server")
            self._running[database, s3] = configured_server(root, config, env)
        return self._running[database, s3]

    def stop(self) -> None:
        for running in self._running.values():
            running.stop()


@pytest.fixture(scope="session")
def session_servers(request: pytest.FixtureRequest) -> Iterator[SessionServers]:
    servers = SessionServers(request)
    yield servers
    servers.stop()


@pytest.fixture(scope="session")
def server(session_servers: SessionServers, database: str) -> Server:
    """The shared server of the test's database backend."""
    return session_servers.get(database)


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, database: str) -> Target:
    """The portable suites' target (see target.py): the shared server (of `database`) unless
    the environment names another, with alice's and bob's keys and a key created and then
    revoked on it."""
    remote = remote_target()
    if remote is not None:
        return remote
    local: Server = request.getfixturevalue("server")
    data_dir = str(local.data_dir)
    created = run_cli(
        "keys", "create", "--org", "org_alice", "--user", "u_gone", "--data-dir", data_dir,
        env=local.env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    key_id = created.stderr.split()[2]
    revoked = run_cli("keys", "revoke", key_id, "--data-dir", data_dir, env=local.env)
    assert revoked.returncode == 0
    return Target(local.url + "/v1", ALICE_KEY, BOB_KEY, created.stdout.strip(), local)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def loaded_width(image: Any, timeout: float = 10.0) -> int:
    """The natural width of an <img> (a Playwright locator) once it has loaded, 0 if it never
    does. Thumbnails load lazily, once in view, and one not yet loading counts as `complete`; a
    list may also be drawn again meanwhile (after an upload), replacing the element. So each try
    finds the image afresh, scrolls it into view and reads its width."""
    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout
    while True:
        try:
            image.scroll_into_view_if_needed(timeout=1000)
            width = image.evaluate("img => img.naturalWidth", timeout=1000)
        except Error:  # replaced while we looked
            width = 0
        if width or time.monotonic() > deadline:
            return width
        time.sleep(0.05)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright, one for the session: Playwright's sync API runs
    one instance per thread, so every browser test shares this one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """moto's S3 in this process; a server's S3 backend reaches it over 127.0.0.1."""
    running = MotoServer().start()
    yield running
    running.stop()


def s3_storage_config(moto: MotoServer, bucket: str) -> str:
    return f"""
[storage]
backend = "s3"

[storage.s3]
bucket = "{bucket}"
endpoint_url = "{moto.url}"
access_key_id = "testing"
secret_access_key = "testing"
create_bucket = true
"""


@pytest.fixture(scope="session")
def s3_server(session_servers: SessionServers, database: str) -> Server:
    """Like `server`, with its objects in a bucket of the moto server."""
    return session_servers.get(database, s3=True)


@pytest.fixture
def make_server(tmp_path: Path, database: str, database_env) -> Iterator[Any]:
    """Start extra servers with their own data dir (and options) for a test, each on a fresh
    database of the test's backend (or of `database`); stopped afterwards."""
    started: list[Server] = []

    def start(
        *args: str,
        data_dir: Path | None = None,
        env: dict[str, str] | None = None,
        database: str = database,
    ) -> Server:
        env = {**database_env(database), **(env or {})}
        running = Server(data_dir or tmp_path / f"data-{len(started)}", list(args), env).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def wait_until(predicate: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    return predicate()


def client_fixture(name: str, key: str | None, doc: str) -> Any:
    """A fixture yielding a contract-checking client of the shared server for one key."""

    @pytest.fixture(name=name)
    def client(server: Server, contract: Contract) -> Iterator[Api]:
        with Api(server.url, contract, key) as made:
            yield made

    client.__doc__ = doc
    return client


alice = client_fixture("alice", ALICE_KEY, "org_alice, an ordinary organization.")
bob = client_fixture("bob", BOB_KEY, "org_bob, another ordinary organization.")
admin = client_fixture("admin", ADMIN_KEY, "An admin key (org_ops).")
curator = client_fixture("curator", TEMPLATE_KEY, "A key of the template organization itself.")
anonymous = client_fixture("anonymous", None, "No X-API-Key header at all.")


@pytest.fixture
def api(contract: Contract) -> Any:
    """Make a contract-checking client for any server and key."""
    clients: list[Api] = []

    def make(server: Server, key: str | None) -> Api:
        client = Api(server.url, contract, key)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("contract fuzzing (tests/test_contract_fuzzing.py)")
    group.addoption(
        "--fuzz-examples",
        type=int,
        default=100,
        help="Schemathesis examples per operation (default 100, what CI runs).",
    )
    group.addoption(
        "--fuzz-seed",
        default="20261130",
        help="Schemathesis seed: a number (default: a fixed one) or 'random'.",
    )
    soak = parser.getgroup("concurrency soak (tests/test_concurrency_soak.py)")
    soak.addoption(
        "--soak-seconds",
        type=float,
        default=30.0,
        help="How long the soak's clients run (default 30, what CI runs).",
    )
    soak.addoption(
        "--soak-clients",
        type=int,
        default=32,
        help="Concurrent soak clients, each with its own connections (default 32).",
    )
    soak.addoption(
        "--soak-seed",
        type=int,
        default=None,
        help="Seed of the soak's random streams (default: a new one, printed with the results).",
    )


LONG_SUITES = ("crash", "contract", "concurrency")  # about 45% of the run, in 9 tests


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The soak's time limit follows --soak-seconds: its run, then the jobs' and the checks'.
    The long suites run first: under xdist's worksteal the other worker then takes the short
    tests, where running them last left one worker alone with them for a minute or more."""
    limit = config.getoption("--soak-seconds") + 360
    for item in items:
        if item.get_closest_marker("concurrency") is not None:
            item.add_marker(pytest.mark.timeout(limit))
    items.sort(key=lambda item: not any(item.get_closest_marker(name) for name in LONG_SUITES))


FIGURES = "figures"  # a test's record_property name for what the run's summary shows


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Figures tests measured (the soak's throughput and latencies), shown after the run.
    Recorded as properties rather than printed, so they reach this summary from xdist workers."""
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, text in getattr(report, "user_properties", ()):
                if name == FIGURES and getattr(report, "when", "") == "call":
                    terminalreporter.write_sep("-", report.nodeid)
                    terminalreporter.write_line(text)


@pytest.fixture(scope="module")
def storage(server: Server) -> Any:
    """The shared server's filesystem backend, opened beside it: for tests that sign URLs and
    look at objects the way the server sees them."""
    from ojin_local.storage.filesystem import FilesystemStorage

    return FilesystemStorage(server.data_dir, server.url)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """A plain client, for pre-signed URLs (no key, no base URL)."""
    with httpx.Client(timeout=60) as client:
        yield client
