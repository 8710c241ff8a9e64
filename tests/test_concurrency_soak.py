"""The concurrency soak (issue 6): 32 clients for 30 s against one server, a weighted mix of every
operation, two organizations. Afterwards the server is checked over HTTP against a ledger of every
acknowledged write: zero 5xx, no "database is locked", every acknowledged create readable unless
acknowledged deleted, bytes download identically, titles unique per organization, each upload
finalized once, each job ended with a valid result.

Each item (asset, configuration) is changed only by the client that made it, so its final state
is known exactly; the races are deliberate (two finalizes of one upload, two creates with one
title, two deletes of one item) and run on a second connection of the same client. Other clients
touch an organization's items only to read them, or to try (and fail) from the other one.

`--soak-seconds`, `--soak-clients`, `--soak-seed` run it longer, wider or again with one seed;
the seed is printed with the throughput table.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from ojin_local.domain.portraits import portrait_png
from tests.conftest import (
    ADMIN_KEY,
    ALICE_KEY,
    BOB_KEY,
    FIGURES,
    GENERATE,
    TEST_CONFIG,
    Api,
    Server,
    configured_server,
)

pytestmark = pytest.mark.concurrency

ORGANIZATIONS = {"org_alice": ALICE_KEY, "org_bob": BOB_KEY}
VARIANT = "acme/echo-1.0/basic"
CONTESTED_TITLES = 8  # per organization: creates and renames collide on these
MIB = 1024 * 1024
JOB_WAIT_SECONDS = 240.0
JOB_ERRORS = {"SOURCE_ASSET_NOT_FOUND", "INVALID_SOURCE_IMAGE"}


class Abort(Exception):
    """Ends one operation after a problem was recorded; the client goes on with the next."""


@dataclass
class AssetEntry:
    organization: str
    upload_id: str | None
    md5: str
    size: int
    etag: str
    source: str | None = None  # "portrait" or "junk": uploaded as a job's source image
    deleted: bool = False


@dataclass
class ConfigEntry:
    organization: str
    title: str
    voice: str
    deleted: bool = False


@dataclass
class JobEntry:
    organization: str
    source_asset_id: str
    portrait: bool


@dataclass
class Ledger:
    """Every acknowledged write, every request's timing, and every problem seen."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    assets: dict[str, AssetEntry] = field(default_factory=dict)
    configs: dict[str, ConfigEntry] = field(default_factory=dict)
    jobs: dict[str, JobEntry] = field(default_factory=dict)
    finalized: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[str, int, float]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    renders_left: int = 0  # jobs of real portraits (~1 CPU-s each); jobs of junk cost little

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)

    def take_render(self) -> bool:
        with self.lock:
            if self.renders_left <= 0:
                return False
            self.renders_left -= 1
            return True

    def ids(self, kind: str, organization: str) -> list[str]:
        with self.lock:
            items = self.assets if kind == "asset" else self.configs
            return [key for key, entry in items.items() if entry.organization == organization]


@dataclass(frozen=True)
class Settings:
    seconds: float
    clients: int
    seed: int


@pytest.fixture(scope="module")
def soak_settings(request: pytest.FixtureRequest) -> Settings:
    seed = request.config.getoption("--soak-seed")
    return Settings(
        seconds=request.config.getoption("--soak-seconds"),
        clients=request.config.getoption("--soak-clients"),
        seed=int(seed) if seed is not None else random.SystemRandom().randrange(2**31),
    )


@pytest.fixture(scope="module", params=["sqlite", "shared"])
def soak_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, database_env: Any
) -> Iterator[Server]:
    """A server of its own, with the shared server's keys, so the load mixes with no other test:
    one process on SQLite, and the shared instance (Postgres, Redis, two API processes and a
    worker)."""
    env = database_env(request.param)
    running = configured_server(tmp_path_factory.mktemp("soak-server"), TEST_CONFIG, env)
    yield running
    running.stop()


class Client:
    """One simulated client: its organization, its random stream, a kept-alive connection for
    the API, one for pre-signed URLs, and a second API connection to race itself with."""

    def __init__(
        self, index: int, server: Server, contract: Any, settings: Settings, ledger: Ledger
    ) -> None:
        self.index = index
        self.organization = list(ORGANIZATIONS)[index % len(ORGANIZATIONS)]
        self.other = list(ORGANIZATIONS)[(index + 1) % len(ORGANIZATIONS)]
        key = ORGANIZATIONS[self.organization]
        self.rng = random.Random(f"{settings.seed}:{index}")
        self.api = Api(server.url, contract, key)
        self.racer = Api(server.url, contract, key)
        self.storage = httpx.Client(timeout=60)
        self.racer_storage = httpx.Client(timeout=60)
        self.admin = Api(server.url, contract, ADMIN_KEY)
        self.racer_thread = ThreadPoolExecutor(1, thread_name_prefix=f"racer-{index}")
        self.ledger = ledger
        self.assets: list[str] = []
        self.configs: list[str] = []
        self.operations: list[tuple[Callable[[], None], int]] = [
            (self.upload_small, 18),
            (self.upload_multipart, 2),
            (self.upload_racing_finalizes, 5),
            (self.upload_refused_then_retried, 2),
            (self.upload_racing_part_puts, 3),
            (self.finalize_racing_a_late_part, 3),
            (self.upload_portrait, 3),
            (self.create_config, 14),
            (self.update_config, 10),
            (self.create_racing_titles, 3),
            (self.delete_config, 5),
            (self.delete_config_racing, 2),
            (self.update_racing_delete, 2),
            (self.delete_config_racing_a_reference, 2),
            (self.read_config, 10),
            (self.read_asset, 10),
            (self.list_page, 10),
            (self.delete_asset, 5),
            (self.touch_other_organization, 4),
            (self.read_service, 3),
            (self.submit_job, 4),
        ]

    def close(self) -> None:
        self.racer_thread.shutdown()
        for client in (self.api, self.racer, self.storage, self.racer_storage, self.admin):
            client.close()

    def run(self, deadline: float) -> None:
        functions, weights = zip(*self.operations, strict=True)
        while time.monotonic() < deadline:
            operation = self.rng.choices(functions, weights)[0]
            try:
                operation()
            except Abort:
                pass
            except Exception:
                self.ledger.problem(f"client {self.index}: {traceback.format_exc()}")

    # HTTP

    def call(
        self, name: str, method: str, url: str, client: httpx.Client | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One request, timed; a 5xx, a lock error or a broken connection is a problem."""
        client = client or self.api
        started = time.perf_counter()
        try:
            response = client.request(method, url, **kwargs)
        except Exception as exc:
            self.ledger.problem(f"{name} {method} {url}: {type(exc).__name__}: {exc}")
            raise Abort from exc
        elapsed = time.perf_counter() - started
        with self.ledger.lock:
            self.ledger.samples.append((name, response.status_code, elapsed))
        if response.status_code >= 500 or "database is locked" in response.text:
            self.ledger.problem(f"{name} {method} {url} -> {response.status_code} {response.text}")
            raise Abort
        return response

    def expect(self, response: httpx.Response, *statuses: int) -> httpx.Response:
        if response.status_code not in statuses:
            request = response.request
            self.ledger.problem(
                f"{request.method} {request.url.path} -> {response.status_code}, expected "
                f"{statuses}: {response.text[:500]}"
            )
            raise Abort
        return response

    def check(self, ok: bool, text: str) -> None:
        if not ok:
            self.ledger.problem(f"client {self.index}: {text}")
            raise Abort

    def race(
        self,
        mine: Callable[[Any], httpx.Response],
        theirs: Callable[[Any], httpx.Response],
        clients: tuple[httpx.Client, httpx.Client] | None = None,
    ) -> list[int]:
        """Send two requests at the same moment on two connections (by default the API's two);
        their statuses, sorted."""
        barrier = threading.Barrier(2, timeout=30)
        first_client, second_client = clients or (self.api, self.racer)

        def go(send: Callable[[Any], httpx.Response], client: httpx.Client) -> httpx.Response:
            barrier.wait()
            return send(client)

        other = self.racer_thread.submit(go, theirs, second_client)
        first = go(mine, first_client)
        return sorted([first.status_code, other.result().status_code])

    # Uploads

    def upload(
        self, parts: list[bytes], *, category: str = "image", portrait: bool = False
    ) -> tuple[dict, list[dict], dict]:
        """Initiate, sign and PUT every part (in a random order); returns the session, the
        listed parts and the finalize body, not yet sent."""
        name = f"soak-{self.index}-{uuid.uuid4().hex[:8]}.{'png' if portrait else 'bin'}"
        initiated = self.expect(
            self.call(
                "initiate",
                "POST",
                "/v1/assets/initiate-upload",
                json={"name": name, "category": category},
            ),
            200,
        ).json()
        numbered = list(enumerate(parts, start=1))
        self.rng.shuffle(numbered)
        listed = []
        for number, data in numbered:
            signed = self.call(
                "sign-part",
                "POST",
                "/v1/assets/sign-part",
                json={
                    "asset_id": initiated["asset_id"],
                    "upload_id": initiated["upload_id"],
                    "part_number": number,
                },
            )
            url = self.expect(signed, 200).json()["upload_url"]
            put = self.expect(self.call("put-part", "PUT", url, self.storage, content=data), 200)
            listed.append({"part_number": number, "etag": put.headers["etag"]})
        listed.sort(key=lambda part: part["part_number"])
        body = {
            "asset_id": initiated["asset_id"],
            "upload_id": initiated["upload_id"],
            "name": name,
            "category": category,
            "content_type": "image/png" if portrait else "application/octet-stream",
            "size_bytes": sum(map(len, parts)),
            "parts": listed,
        }
        return initiated, listed, body

    def acknowledge(self, asset: dict, data: bytes, body: dict, source: str | None = None) -> None:
        """Record a 201 of a finalize, once its Asset is checked against what was sent."""
        sent = (self.organization, body["asset_id"], len(data), body["category"], body["name"])
        fields = ("organization_id", "asset_id", "size_bytes", "category", "name")
        got = tuple(asset[k] for k in fields)
        self.check(got == sent, f"finalize answered {asset} for {body}")
        with self.ledger.lock:
            self.ledger.finalized[body["upload_id"]] += 1
            self.ledger.assets[asset["asset_id"]] = AssetEntry(
                self.organization,
                body["upload_id"],
                hashlib.md5(data).hexdigest(),
                len(data),
                asset["etag"],
                source,
            )
        self.assets.append(asset["asset_id"])

    def finalize(self, body: dict, client: Api | None = None) -> httpx.Response:
        return self.call("finalize", "POST", "/v1/assets", client, json=body)

    def upload_small(self) -> None:
        data = self.rng.randbytes(self.rng.randint(1, 256 * 1024))
        category = self.rng.choice(["image", "audio", "weight", "video"])
        _, _, body = self.upload([data], category=category)
        asset = self.expect(self.finalize(body), 201).json()
        self.acknowledge(asset, data, body)

    def upload_multipart(self) -> None:
        parts = [self.rng.randbytes(5 * MIB) for _ in range(self.rng.randint(1, 2))]
        parts.append(self.rng.randbytes(self.rng.randint(1, 64 * 1024)))
        _, _, body = self.upload(parts, category="weight")
        asset = self.expect(self.finalize(body), 201).json()
        self.acknowledge(asset, b"".join(parts), body)

    def upload_racing_finalizes(self) -> None:
        """Two finalizes of one upload at once: exactly one wins, the other is a 409."""
        data = self.rng.randbytes(self.rng.randint(1, 64 * 1024))
        _, _, body = self.upload([data])
        answers: dict[int, httpx.Response] = {}

        def send(client: Api) -> httpx.Response:
            response = self.finalize(body, client)
            answers[id(client)] = response
            return response

        statuses = self.race(send, send)
        self.check(statuses == [201, 409], f"racing finalizes answered {statuses}")
        won = next(r for r in answers.values() if r.status_code == 201)
        lost = next(r for r in answers.values() if r.status_code == 409)
        self.check(lost.json()["code"] == "CONFLICT", f"losing finalize: {lost.text}")
        self.acknowledge(won.json(), data, body)
        again = self.expect(self.finalize(body), 409)
        self.check(again.json()["code"] == "CONFLICT", f"finalize after the win: {again.text}")

    def upload_refused_then_retried(self) -> None:
        """A refused finalize (wrong ETag) leaves the upload open; the corrected one wins."""
        data = self.rng.randbytes(self.rng.randint(1, 64 * 1024))
        _, listed, body = self.upload([data])
        wrong = {**body, "parts": [{**listed[0], "etag": '"' + "0" * 32 + '"'}]}
        refused = self.expect(self.finalize(wrong), 400).json()
        self.check(refused["details"].get("s3_code") == "InvalidPart", f"refusal {refused}")
        asset = self.expect(self.finalize(body), 201).json()
        self.acknowledge(asset, data, body)

    def sign(self, initiated: dict, number: int) -> str:
        body = {
            "asset_id": initiated["asset_id"],
            "upload_id": initiated["upload_id"],
            "part_number": number,
        }
        signed = self.call("sign-part", "POST", "/v1/assets/sign-part", json=body)
        return self.expect(signed, 200).json()["upload_url"]

    def upload_racing_part_puts(self) -> None:
        """One part PUT twice at once (a client's retry): both land with one ETag, and the
        upload completes with exactly those bytes."""
        data = self.rng.randbytes(self.rng.randint(1, 256 * 1024))
        initiated, _, body = self.upload([])
        url = self.sign(initiated, 1)

        def put(client: httpx.Client) -> httpx.Response:
            return self.call("put-part", "PUT", url, client, content=data)

        statuses = self.race(put, put, (self.storage, self.racer_storage))
        self.check(statuses == [200, 200], f"racing PUTs of one part answered {statuses}")
        etag = f'"{hashlib.md5(data).hexdigest()}"'
        body = {**body, "size_bytes": len(data), "parts": [{"part_number": 1, "etag": etag}]}
        self.acknowledge(self.expect(self.finalize(body), 201).json(), data, body)

    def finalize_racing_a_late_part(self) -> None:
        """A part PUT while the upload is finalized without it: the finalize wins with the parts
        it listed, and the late part is either taken (and ignored) or refused, never a 5xx."""
        data = self.rng.randbytes(self.rng.randint(1, 64 * 1024))
        initiated, _, body = self.upload([data])
        late = self.sign(initiated, 2)

        def put(client: httpx.Client) -> httpx.Response:
            return self.call("put-part", "PUT", late, client, content=b"late" * 100)

        answers: list[httpx.Response] = []

        def finalize(client: httpx.Client) -> httpx.Response:
            answers.append(self.finalize(body, client))
            return answers[-1]

        statuses = self.race(finalize, put, (self.api, self.storage))
        self.check(statuses in ([200, 201], [201, 404]), f"finalize and late PUT: {statuses}")
        self.acknowledge(answers[0].json(), data, body)

    def upload_portrait(self) -> None:
        """An image a job can render; a few are not images at all, for INVALID_SOURCE_IMAGE."""
        valid = self.rng.random() < 0.5
        data = portrait_png(self.rng.randrange(12)) if valid else self.rng.randbytes(2048)
        _, _, body = self.upload([data], portrait=True)
        asset = self.expect(self.finalize(body), 201).json()
        self.acknowledge(asset, data, body, "portrait" if valid else "junk")

    # Model configurations

    def title(self) -> tuple[str, bool]:
        """A title no one else uses, or (a third of the time) one of the contested few."""
        if self.rng.random() < 0.35:
            return f"contested-{self.rng.randrange(CONTESTED_TITLES)}", True
        return f"soak-{self.index}-{uuid.uuid4().hex[:12]}", False

    def create_config(self) -> None:
        title, contested = self.title()
        voice = self.rng.choice(["low", "high"])
        body = {
            "title": title,
            "model_variant_id": VARIANT,
            "model_configurations": {"voice": voice},
        }
        response = self.call("config-create", "POST", "/v1/model-configs", json=body)
        self.expect(response, *((201, 409) if contested else (201,)))
        if response.status_code == 201:
            self.remember_config(response.json(), title, voice)

    def remember_config(self, created: dict, title: str, voice: str) -> None:
        self.check(
            created["title"] == title and created["organization_id"] == self.organization,
            f"created {created}",
        )
        with self.ledger.lock:
            self.ledger.configs[created["model_config_id"]] = ConfigEntry(
                self.organization, title, voice
            )
        self.configs.append(created["model_config_id"])

    def update_config(self) -> None:
        if not self.configs:
            return self.create_config()
        config_id = self.rng.choice(self.configs)
        title, contested = self.title()
        voice = self.rng.choice(["low", "high"])
        body = {"title": title, "model_configurations": {"voice": voice}}
        response = self.call("config-update", "PUT", f"/v1/model-configs/{config_id}", json=body)
        self.expect(response, *((200, 409) if contested else (200,)))
        if response.status_code == 200:
            self.check(response.json()["title"] == title, f"updated {response.text}")
            with self.ledger.lock:
                entry = self.ledger.configs[config_id]
                entry.title, entry.voice = title, voice

    def create_racing_titles(self) -> None:
        """Two creates with one new title at once: exactly one 201, one 409."""
        title = f"race-{self.index}-{uuid.uuid4().hex[:12]}"
        body = {
            "title": title,
            "model_variant_id": VARIANT,
            "model_configurations": {"voice": "low"},
        }
        created: list[dict] = []

        def send(client: Api) -> httpx.Response:
            response = self.call("config-create", "POST", "/v1/model-configs", client, json=body)
            if response.status_code == 201:
                created.append(response.json())
            return response

        statuses = self.race(send, send)
        self.check(statuses == [201, 409], f"racing creates of {title!r} answered {statuses}")
        self.remember_config(created[0], title, "low")

    def pop_config(self) -> str | None:
        if not self.configs:
            return None
        return self.configs.pop(self.rng.randrange(len(self.configs)))

    def forget_config(self, config_id: str) -> None:
        with self.ledger.lock:
            self.ledger.configs[config_id].deleted = True

    def delete_config(self) -> None:
        config_id = self.pop_config()
        if config_id is None:
            return
        path = f"/v1/model-configs/{config_id}"
        self.expect(self.call("config-delete", "DELETE", path), 204)
        self.forget_config(config_id)

    def delete_config_racing(self) -> None:
        """Two deletes of one configuration at once: one 204, one 404."""
        config_id = self.pop_config()
        if config_id is None:
            return
        path = f"/v1/model-configs/{config_id}"
        statuses = self.race(
            lambda client: self.call("config-delete", "DELETE", path, client),
            lambda client: self.call("config-delete", "DELETE", path, client),
        )
        self.check(statuses == [204, 404], f"racing deletes answered {statuses}")
        self.forget_config(config_id)

    def update_racing_delete(self) -> None:
        """An update and a delete of one configuration at once: the delete wins either way."""
        config_id = self.pop_config()
        if config_id is None:
            return
        path = f"/v1/model-configs/{config_id}"
        body = {"title": f"doomed-{uuid.uuid4().hex}", "model_configurations": {"voice": "high"}}
        statuses = self.race(
            lambda client: self.call("config-update", "PUT", path, client, json=body),
            lambda client: self.call("config-delete", "DELETE", path, client),
        )
        self.check(statuses in ([200, 204], [204, 404]), f"update and delete: {statuses}")
        self.forget_config(config_id)

    def delete_config_racing_a_reference(self) -> None:
        """An agent configuration starts to reference a configuration as its owner deletes it:
        either the delete wins (adding the reference is 404) or the reference does (the delete
        is 409 until it names the reference as `referenced_by`). Never a reference to nothing."""
        config_id = self.pop_config()
        if config_id is None:
            return
        path = f"/v1/model-configs/{config_id}"
        references = f"/_ojin/model-configs/{config_id}/references"
        agent = str(uuid.uuid4())
        statuses = self.race(
            lambda client: self.call("config-delete", "DELETE", path, client),
            lambda client: self.call(
                "reference-add", "POST", references, client, json={"agent_config_id": agent}
            ),
            (self.api, self.admin),
        )
        self.check(statuses in ([204, 404], [201, 409]), f"delete and reference: {statuses}")
        if statuses == [201, 409]:
            again = self.call("config-delete", "DELETE", path, params={"referenced_by": agent})
            self.expect(again, 204)
        self.forget_config(config_id)
        self.expect(self.call("reference-list", "GET", references, self.admin), 404)

    # Reads

    def read_service(self) -> None:
        """What needs no organization: the variants, one variant, the health report."""
        choice = self.rng.randrange(3)
        if choice == 0:
            self.expect(self.call("variants-list", "GET", "/v1/model-variants"), 200)
        elif choice == 1:
            path = f"/v1/model-variants/{VARIANT}"
            self.expect(self.call("variant-get", "GET", path), 200)
        else:
            health = self.expect(self.call("health", "GET", "/_ojin/health"), 200).json()
            self.check(health["status"] == "ok", f"health under load: {health}")

    def read_config(self) -> None:
        """Read-your-writes: only this client changes its configurations."""
        if not self.configs:
            return self.list_page()
        config_id = self.rng.choice(self.configs)
        got = self.expect(self.call("config-get", "GET", f"/v1/model-configs/{config_id}"), 200)
        with self.ledger.lock:
            entry = self.ledger.configs[config_id]
            expected = (entry.title, {"voice": entry.voice})
        body = got.json()
        self.check(
            (body["title"], body["model_configurations"]) == expected, f"read {body} != {expected}"
        )

    def read_asset(self) -> None:
        if not self.assets:
            return self.upload_small()
        asset_id = self.rng.choice(self.assets)
        with self.ledger.lock:
            entry = self.ledger.assets[asset_id]
        got = self.expect(self.call("asset-get", "GET", f"/v1/assets/{asset_id}"), 200).json()
        self.check(got["etag"] == entry.etag, f"asset {got} != {entry}")
        if entry.size > MIB:
            return None
        download = self.call("asset-download", "GET", f"/v1/assets/{asset_id}/download")
        url = self.expect(download, 200).json()["asset_url"]
        data = self.expect(self.call("object-get", "GET", url, self.storage), 200).content
        self.check(hashlib.md5(data).hexdigest() == entry.md5, f"bytes of {asset_id} differ")
        return None

    def list_page(self) -> None:
        """A page of one of the lists: only this organization's items, and as many as its total
        says (count and page read from one snapshot while others write)."""
        path = self.rng.choice(["/v1/model-configs", "/v1/assets", "/v1/jobs"])
        limit = self.rng.choice([1, 5, 20, 100])
        offset = self.rng.randrange(0, 40)
        name = "list-" + path.rsplit("/", 1)[-1]
        page = self.call(name, "GET", path, params={"limit": limit, "offset": offset})
        body = self.expect(page, 200).json()
        total = body["pagination"]["total_items"]
        expected = min(limit, max(0, total - offset))
        self.check(
            len(body["data"]) == expected and body["pagination"]["offset"] == offset,
            f"{path}?limit={limit}&offset={offset}: {len(body['data'])} items, total {total}",
        )
        for item in body["data"]:
            self.check(item["organization_id"] == self.organization, f"{path} listed {item}")

    def touch_other_organization(self) -> None:
        """The other organization's items are 404 to read, change or delete, under load."""
        kind = self.rng.choice(["asset", "config"])
        ids = self.ledger.ids(kind, self.other)
        if not ids:
            return
        item = self.rng.choice(ids)
        path = f"/v1/assets/{item}" if kind == "asset" else f"/v1/model-configs/{item}"
        method = self.rng.choice(
            ["GET", "DELETE", "PUT"] if kind == "config" else ["GET", "DELETE"]
        )
        body = {"title": f"stolen-{uuid.uuid4().hex}", "model_configurations": {"voice": "low"}}
        kwargs = {"json": body} if method == "PUT" else {}
        response = self.call(f"foreign-{method.lower()}", method, path, **kwargs)
        self.expect(response, 404)

    # Deletes

    def delete_asset(self) -> None:
        if not self.assets:
            return
        asset_id = self.assets.pop(self.rng.randrange(len(self.assets)))
        path = f"/v1/assets/{asset_id}"
        if self.rng.random() < 0.3:
            statuses = self.race(
                lambda client: self.call("asset-delete", "DELETE", path, client),
                lambda client: self.call("asset-delete", "DELETE", path, client),
            )
            self.check(statuses == [204, 404], f"racing asset deletes answered {statuses}")
        else:
            self.expect(self.call("asset-delete", "DELETE", path), 204)
        with self.ledger.lock:
            self.ledger.assets[asset_id].deleted = True

    # Jobs

    def submit_job(self) -> None:
        """An idle video of one of this client's images: a few real portraits (bounded, they
        cost a render each), more of images that are not, which fail fast."""
        with self.ledger.lock:
            sources = {
                kind: [a for a in self.assets if self.ledger.assets[a].source == kind]
                for kind in ("portrait", "junk")
            }
        kind = self.rng.choice(["portrait", "junk"])
        if kind == "portrait" and sources["portrait"] and not self.ledger.take_render():
            kind = "junk"
        if not sources[kind]:
            return self.upload_portrait()
        source_id = self.rng.choice(sources[kind])
        body = {"source_asset_id": source_id, "reference_template": self.rng.choice(TEMPLATES)}
        submitted = self.expect(self.call("job-submit", "POST", GENERATE, json=body), 202).json()
        with self.ledger.lock:
            self.ledger.jobs[submitted["job_id"]] = JobEntry(
                self.organization, source_id, kind == "portrait"
            )
        return None


TEMPLATES = ["v1", "v2", "v3"]


def test_soak(
    soak_server: Server, contract: Any, soak_settings: Settings, record_property: Any
) -> None:
    settings = soak_settings
    ledger = Ledger(renders_left=max(4, int(settings.seconds // 4)))
    clients = [
        Client(index, soak_server, contract, settings, ledger) for index in range(settings.clients)
    ]
    started = time.monotonic()
    deadline = started + settings.seconds
    threads = [
        threading.Thread(target=client.run, args=(deadline,), name=f"soak-{client.index}")
        for client in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(settings.seconds + 120)
    elapsed = time.monotonic() - started
    stuck = [thread.name for thread in threads if thread.is_alive()]
    for client in clients:
        client.close()

    record_property(FIGURES, report(ledger, settings, elapsed))
    assert not stuck, f"clients still running after the soak (a deadlock?): {stuck}"
    assert not ledger.problems, f"{len(ledger.problems)} problem(s):\n" + "\n".join(
        ledger.problems[:30]
    )
    verify(soak_server, contract, ledger)
    output = soak_server.output
    failures = [
        "".join(output[at : at + 25]) if line.startswith("Traceback") else line
        for at, line in enumerate(output)
        if "database is locked" in line or " ERROR " in line or line.startswith("Traceback")
    ]
    assert not failures, "the server logged:\n" + "".join(failures[:5])


def verify(server: Server, contract: Any, ledger: Ledger) -> None:
    """The server's state against the ledger, over HTTP, once the load has stopped."""
    problems: list[str] = []
    with httpx.Client(timeout=60) as storage:
        for organization, key in ORGANIZATIONS.items():
            with Api(server.url, contract, key) as api:
                problems += verify_organization(api, storage, organization, ledger)
    multiple = {upload: n for upload, n in ledger.finalized.items() if n > 1}
    if multiple:
        problems.append(f"uploads finalized more than once: {multiple}")
    assert not problems, "\n".join(problems[:30])


def verify_organization(
    api: Api, storage: httpx.Client, organization: str, ledger: Ledger
) -> list[str]:
    problems = []
    videos = check_jobs(api, storage, organization, ledger, problems)

    configs = list_all(api, "/v1/model-configs")
    titles = Counter(config["title"] for config in configs)
    problems += [f"{organization}: title {t!r} used {n} times" for t, n in titles.items() if n > 1]
    listed = {config["model_config_id"]: config for config in configs}
    for config_id, entry in ledger.configs.items():
        if entry.organization != organization:
            continue
        got = api.get(f"/v1/model-configs/{config_id}")
        if entry.deleted:
            if got.status_code != 404 or config_id in listed:
                problems.append(f"deleted config {config_id} is still there: {got.status_code}")
            continue
        body = got.json()
        if got.status_code != 200 or config_id not in listed:
            problems.append(f"acknowledged config {config_id} lost: {got.status_code} {body}")
        elif (body["title"], body["model_configurations"]) != (entry.title, {"voice": entry.voice}):
            problems.append(f"config {config_id} is {body}, acknowledged as {entry}")
    unknown = set(listed) - set(ledger.configs)
    if unknown:
        problems.append(f"{organization}: configs no acknowledged create made: {unknown}")

    assets = {asset["asset_id"]: asset for asset in list_all(api, "/v1/assets")}
    for asset_id, entry in ledger.assets.items():
        if entry.organization != organization:
            continue
        got = api.get(f"/v1/assets/{asset_id}")
        if entry.deleted:
            if got.status_code != 404 or asset_id in assets:
                problems.append(f"deleted asset {asset_id} is still there: {got.status_code}")
            continue
        if got.status_code != 200 or asset_id not in assets:
            problems.append(f"acknowledged asset {asset_id} lost: {got.status_code} {got.text}")
            continue
        url = api.get(f"/v1/assets/{asset_id}/download").json()["asset_url"]
        data = storage.get(url).content
        if (len(data), hashlib.md5(data).hexdigest(), got.json()["etag"]) != (
            entry.size,
            entry.md5,
            entry.etag,
        ):
            problems.append(f"asset {asset_id} downloads differently from what was uploaded")
    unknown = set(assets) - set(ledger.assets) - videos
    if unknown:
        problems.append(f"{organization}: assets no acknowledged finalize or job made: {unknown}")
    return problems


def check_jobs(
    api: Api, storage: httpx.Client, organization: str, ledger: Ledger, problems: list[str]
) -> set[str]:
    """Wait for each job to end; each must end with a valid result. Returns the videos made."""
    videos = set()
    deadline = time.monotonic() + JOB_WAIT_SECONDS
    for job_id, entry in ledger.jobs.items():
        if entry.organization != organization:
            continue
        while True:
            job = api.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        source_deleted = ledger.assets[entry.source_asset_id].deleted
        if job["status"] == "succeeded":
            asset_id = job["result"]["asset_id"]
            video = api.get(f"/v1/assets/{asset_id}")
            url = api.get(f"/v1/assets/{asset_id}/download").json().get("asset_url", "")
            head = storage.get(url).content[:12] if url else b""
            if (
                video.status_code != 200
                or video.json()["category"] != "video"
                or head[4:8] != b"ftyp"
            ):
                problems.append(f"job {job_id} succeeded without a video: {video.text}")
            elif not entry.portrait:
                problems.append(f"job {job_id} rendered a source that is not an image: {job}")
            videos.add(asset_id)
        elif job["status"] == "failed":
            code = job["error"]["code"]
            expected = {"SOURCE_ASSET_NOT_FOUND"} if source_deleted else set()
            if not entry.portrait:
                expected.add("INVALID_SOURCE_IMAGE")
            if code not in expected:
                problems.append(f"job {job_id} failed with {code} (allowed: {expected}): {job}")
        else:
            problems.append(f"job {job_id} did not end within {JOB_WAIT_SECONDS} s: {job}")
    return videos


def list_all(api: Api, path: str) -> list[dict]:
    items: list[dict] = []
    while True:
        page = api.get(path, params={"limit": 100, "offset": len(items)})
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["data"]
        if len(items) >= body["pagination"]["total_items"] or not body["data"]:
            return items


def report(ledger: Ledger, settings: Settings, elapsed: float) -> str:
    """Requests per second and latency per operation, for the test output (never asserted)."""
    by_operation: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    for name, status, seconds in ledger.samples:
        by_operation[name].append(seconds)
        statuses[name][status] += 1
    lines = [
        "",
        f"soak: {settings.clients} clients, {settings.seconds:g} s (ran {elapsed:.1f} s), "
        f"seed {settings.seed} (rerun: --soak-seed {settings.seed}), "
        f"{len(ledger.samples)} requests, {len(ledger.samples) / elapsed:.0f} req/s, "
        f"{len(ledger.jobs)} jobs",
        f"{'operation':<18}{'count':>7}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}  statuses",
    ]
    for name in sorted(by_operation):
        times = sorted(by_operation[name])
        p50 = statistics.median(times) * 1000
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000
        codes = " ".join(f"{code}:{n}" for code, n in sorted(statuses[name].items()))
        lines.append(
            f"{name:<18}{len(times):>7}{len(times) / elapsed:>8.1f}{p50:>9.1f}{p99:>9.1f}  {codes}"
        )
    return "\n".join(lines)
