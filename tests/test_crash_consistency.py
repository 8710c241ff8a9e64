"""SIGKILL at random moments while clients upload, finalize, delete and run jobs, or while a state
import replaces everything; then restart on the same data dir and check that nothing
acknowledged was lost and nothing is left dangling.

Seeded: OJIN_CRASH_SEED picks the moments (default fixed, so CI is reproducible; "random" for a
fresh one), OJIN_CRASH_ROUNDS how many kills among clients (default 30),
OJIN_CRASH_IMPORT_ROUNDS how many during imports (default 10) and OJIN_CRASH_FINALIZE_ROUNDS how
many during finalizes (default 12).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest

from ojin_local.client import OjinClient
from ojin_local.domain.portraits import portrait_png
from tests.conftest import GENERATE, Server, Worker, run_cli, wait_until
from tests.storage_helpers import multipart_etag

pytestmark = [pytest.mark.crash, pytest.mark.timeout(900)]

DEV_KEY = {"X-API-Key": "ojin-local-dev-key"}
MIB = 1024 * 1024


def crash_seed() -> int:
    raw = os.environ.get("OJIN_CRASH_SEED", "20261129")
    return random.SystemRandom().randrange(2**32) if raw == "random" else int(raw)


@dataclass
class Acknowledged:
    """What the server said yes to: it must all be there after any crash."""

    assets: dict[str, bytes] = field(default_factory=dict)  # asset id -> bytes sent
    images: list[str] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    deleting: set[str] = field(default_factory=set)  # asked to, the answer cut off: either way
    jobs: set[str] = field(default_factory=set)
    whole: set[str] = field(default_factory=set)  # assets whose bytes an earlier check read


def client_work(base: str, rng: random.Random, acked: Acknowledged, stop: threading.Event) -> None:
    """One client doing a random mix until the server dies under it."""
    with httpx.Client(base_url=base, headers=DEV_KEY, timeout=10) as client:
        try:
            while not stop.is_set():
                action = rng.choice(["upload", "upload", "delete", "job"])
                if action == "upload":
                    upload(client, rng, acked)
                elif action == "delete" and acked.assets.keys() - acked.deleting:
                    asset_id = rng.choice(sorted(acked.assets.keys() - acked.deleting))
                    acked.deleting.add(asset_id)
                    if client.delete(f"/v1/assets/{asset_id}").status_code == 204:
                        acked.deleted.add(asset_id)
                elif action == "job" and acked.images:
                    source = rng.choice(acked.images)
                    if source not in acked.deleted:
                        answer = client.post(GENERATE, json={"source_asset_id": source})
                        if answer.status_code == 202:
                            acked.jobs.add(answer.json()["job_id"])
        except httpx.HTTPError:
            return  # the server is gone: what was not answered is not acknowledged


def upload(client: httpx.Client, rng: random.Random, acked: Acknowledged) -> None:
    image = rng.random() < 0.3
    parts = [portrait_png(rng.randrange(3))] if image else [
        rng.randbytes(5 * MIB), rng.randbytes(rng.randrange(1, 200_000))
    ]  # fmt: skip
    name, category = ("face.png", "image") if image else ("blob.bin", "weight")
    session = client.post(
        "/v1/assets/initiate-upload", json={"name": name, "category": category}
    ).json()
    ids = {"asset_id": session["asset_id"], "upload_id": session["upload_id"]}
    listed = []
    for number, data in enumerate(parts, start=1):
        url = client.post("/v1/assets/sign-part", json={**ids, "part_number": number}).json()
        etag = httpx.put(url["upload_url"], content=data, timeout=10).headers["etag"]
        listed.append({"part_number": number, "etag": etag})
    body = {
        **ids, "name": name, "category": category,
        "content_type": "image/png" if image else "application/octet-stream",
        "size_bytes": sum(map(len, parts)), "parts": listed,
    }  # fmt: skip
    if client.post("/v1/assets", json=body).status_code == 201:
        acked.assets[session["asset_id"]] = b"".join(parts)
        if image:
            acked.images.append(session["asset_id"])


def every_asset(client: httpx.Client, source: str) -> list[dict]:
    found, offset = [], 0
    while True:
        page = client.get("/v1/assets", params={"source": source, "limit": 100, "offset": offset})
        found += page.json()["data"]
        offset += 100
        if offset >= page.json()["pagination"]["total_items"]:
            return found


def assert_database_intact(server: Server) -> None:
    """SQLite's own check (Postgres's crash safety is Postgres's: its WAL)."""
    if server.sqlite_file is None:
        return
    with sqlite3.connect(server.sqlite_file) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def assert_only_owned_objects_after_gc(server: Server) -> None:
    data_dir = str(server.data_dir)
    collected = run_cli(
        "gc", "--ttl-seconds", "0", "--grace-seconds", "0", "--data-dir", data_dir, env=server.env
    )
    assert collected.returncode == 0, collected.stderr
    with httpx.Client(base_url=server.url, headers=DEV_KEY) as client:
        assets = [a for s in ("org", "template") for a in every_asset(client, s)]
    owned = {a["asset_id"] for a in assets}
    owned_bytes = sum(a["size_bytes"] for a in assets)
    objects = server.data_dir / "storage" / "objects" / "assets"
    assert {p.name for p in objects.iterdir()} == owned
    assert not any((server.data_dir / "storage" / "uploads").iterdir())
    assert stored_bytes(server) == owned_bytes, "bytes on disk that no asset owns"


def stored_bytes(server: Server) -> int:
    """The object bytes on disk: objects stored whole (a 4 KiB header, then the bytes) and the
    part files (the same header) of multi-part objects; a manifest holds none."""
    storage = server.data_dir / "storage"
    whole = [p for p in (storage / "objects").rglob("*") if p.is_file()]
    whole = [p for p in whole if p.read_bytes()[:5] == b"OJIN\x01"]
    parts = list((storage / "blobs").rglob("*.part"))
    return sum(p.stat().st_size - 4096 for p in whole + parts)


def check(server: Server, acked: Acknowledged) -> None:
    """After each kill: every acknowledged asset there, whole. Its bytes are read the first
    time; later checks read its first byte only (a 206 naming the object's full size and ETag),
    since a stored object never changes, only goes: that kept 30 rounds from re-downloading
    every earlier upload each round (most of the suite's three minutes). Bytes damaged in a
    later round stay damaged, so `check_every_byte` at the end finds them."""
    assert_database_intact(server)
    client = httpx.Client(base_url=server.url, headers=DEV_KEY, timeout=30)
    for asset_id, data in acked.assets.items():
        answer = client.get(f"/v1/assets/{asset_id}/download")
        if asset_id in acked.deleted:
            assert answer.status_code == 404, asset_id
            continue
        if asset_id in acked.deleting and answer.status_code == 404:
            continue
        assert answer.status_code == 200, f"acknowledged asset {asset_id} lost"
        assert answer.json()["size_bytes"] == len(data)
        if asset_id in acked.whole:
            assert_object_there(answer.json(), f"acknowledged asset {asset_id}")
            continue
        body = httpx.get(answer.json()["asset_url"], timeout=30)
        assert body.content == data
        assert body.headers["etag"] == answer.json()["etag"]
        acked.whole.add(asset_id)
    for record in every_asset(client, "org"):  # unacknowledged ones (cut off after commit) too
        download = client.get(f"/v1/assets/{record['asset_id']}/download").json()
        if record["asset_id"] in acked.whole:
            assert_object_there(download, f"record {record['asset_id']}")
            continue
        body = httpx.get(download["asset_url"], timeout=30)
        assert body.status_code == 200, f"record {record['asset_id']} has no object"
        assert len(body.content) == record["size_bytes"]
        assert body.headers["etag"] == record["etag"]
        acked.whole.add(record["asset_id"])
    for job_id in acked.jobs:
        done = wait_until(
            lambda job_id=job_id: (
                client.get(f"/v1/jobs/{job_id}").json()["status"] in ("succeeded", "failed")
            ),
            timeout=60,
        )
        assert done, f"job {job_id} is stuck"
    client.close()


def check_every_byte(server: Server, acked: Acknowledged) -> None:
    """The last check, after gc: every object read whole again."""
    acked.whole.clear()
    check(server, acked)


def assert_object_there(download: dict, what: str) -> None:
    """The object behind a download answer is stored with its size and ETag (one byte read)."""
    first = httpx.get(download["asset_url"], headers={"Range": "bytes=0-0"}, timeout=30)
    assert first.status_code == 206, f"{what} has no object"
    assert first.headers["content-range"] == f"bytes 0-0/{download['size_bytes']}", what
    assert first.headers["etag"] == download["etag"], what


def test_nothing_acknowledged_is_lost_across_random_kills(make_server) -> None:
    seed = crash_seed()
    rng = random.Random(seed)
    rounds = int(os.environ.get("OJIN_CRASH_ROUNDS", "30"))
    server = make_server()
    acked = Acknowledged()
    for round_ in range(rounds):
        stop = threading.Event()
        workers = [
            threading.Thread(
                target=client_work,
                args=(f"{server.url}", random.Random(rng.random()), acked, stop),
            )
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        time.sleep(rng.uniform(0.05, 1.2))
        kill_and_restart(server, workers, stop)
        try:
            check(server, acked)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, round {round_}: {exc}") from exc
    assert_only_owned_objects_after_gc(server)
    check_every_byte(server, acked)


def all_serving(server: Server) -> bool:
    processes = httpx.get(f"{server.url}/_ojin/health", timeout=10).json()["processes"]
    return processes["serving"] == processes["configured"]


def test_killed_api_processes_and_workers_of_a_shared_instance_lose_nothing(make_server) -> None:
    """The shared profile (two API processes and a worker): one of them SIGKILLed at a random
    moment of each round (the worker in a third of the rounds), while two clients work. The
    supervisor replaces an API process, a new worker takes over from a killed one, and nothing
    acknowledged is lost."""
    seed = crash_seed()
    rng = random.Random(seed)
    rounds = int(os.environ.get("OJIN_CRASH_SHARED_ROUNDS", "12"))
    server = make_server(database="shared")
    acked = Acknowledged()
    killed: Counter[str] = Counter()
    worker_rounds = max(1, rounds // 3)
    victims = ["worker"] * worker_rounds + ["api"] * (rounds - worker_rounds)
    rng.shuffle(victims)
    for round_, victim in enumerate(victims):
        stop = threading.Event()
        workers = [
            threading.Thread(
                target=client_work,
                args=(server.url, random.Random(rng.random()), acked, stop),
            )
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        time.sleep(rng.uniform(0.05, 1.2))
        killed[victim] += 1
        if victim == "worker":
            assert server.worker is not None
            server.worker.stop(signal.SIGKILL)
            server.worker = Worker(server.data_dir, server.args, server.env).start()
        else:
            os.kill(rng.choice(server.api_processes()), signal.SIGKILL)
        stop.set()
        for worker in workers:
            worker.join(30)
        assert wait_until(lambda: all_serving(server), timeout=30)
        try:
            check(server, acked)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, round {round_}: {exc}") from exc
    print(f"shared-instance kills (seed {seed}): {dict(killed)}")
    assert_only_owned_objects_after_gc(server)
    check_every_byte(server, acked)


def state_view(server: Server) -> dict[str, list[tuple[str, ...]]]:
    """Everything a client can see of the organization's state, objects' bytes included."""
    with httpx.Client(base_url=server.url, headers=DEV_KEY, timeout=30) as client:
        assets = []
        for record in every_asset(client, "org"):
            url = client.get(f"/v1/assets/{record['asset_id']}/download").json()["asset_url"]
            body = httpx.get(url, timeout=30)
            assert body.status_code == 200, f"record {record['asset_id']} has no object"
            digest = hashlib.md5(body.content).hexdigest()
            assets.append((record["asset_id"], str(record["size_bytes"]), record["etag"], digest))
        configs = client.get("/v1/model-configs", params={"source": "org", "limit": 100}).json()
    titles = [(c["model_config_id"], c["title"]) for c in configs["data"]]
    return {"assets": sorted(assets), "configs": sorted(titles)}


def test_a_killed_state_import_leaves_the_old_state_or_the_new(make_server, tmp_path) -> None:
    seed = crash_seed()
    rng = random.Random(seed)
    rounds = int(os.environ.get("OJIN_CRASH_IMPORT_ROUNDS", "10"))
    server = make_server()
    old, new = tmp_path / "old.tar.gz", tmp_path / "new.tar.gz"
    with OjinClient(server.url + "/v1", DEV_KEY["X-API-Key"]) as client:
        for index in range(3):  # incompressible, so the import takes long enough to be hit
            blob = tmp_path / f"blob-{index}.bin"
            blob.write_bytes(rng.randbytes(6 * MIB))
            client.upload_file(blob, "weight")
        client.create_model_config("new state", "ojin/oris-1.0/standard", {})
        client.export_state(new)
        new_state = state_view(server)
        client.reset()
        client.create_model_config("old state", "ojin/oris-1.0/standard", {})
        client.export_state(old)
        old_state = state_view(server)
    server.restart()  # each round imports into a freshly started server: time one such import
    with OjinClient(server.url + "/v1", DEV_KEY["X-API-Key"]) as client:
        started = time.monotonic()
        client.import_state(new)
        duration = time.monotonic() - started
        client.import_state(old)

    outcomes: Counter[str] = Counter()
    for round_ in range(rounds):
        answered: list[int] = []

        def import_new(answered: list[int] = answered) -> None:
            with OjinClient(server.url + "/v1", DEV_KEY["X-API-Key"]) as client:
                try:
                    client.import_state(new)
                    answered.append(200)
                except httpx.HTTPError:
                    pass  # killed before it answered: either state may be the one left

        importer = threading.Thread(target=import_new)
        importer.start()
        time.sleep(rng.uniform(0, 1.5 * duration))  # before, during and after the commit
        kill_and_restart(server, [importer])
        context = f"seed {seed}, round {round_}, answered {answered}"
        assert_database_intact(server)
        found = state_view(server)
        assert found in (old_state, new_state), context
        if answered:
            assert found == new_state, context
        outcomes[("new" if found == new_state else "old") + (" answered" if answered else "")] += 1
        with OjinClient(server.url + "/v1", DEV_KEY["X-API-Key"]) as client:
            client.import_state(old)
    print(f"state import kills (seed {seed}): {dict(outcomes)}")
    assert_only_owned_objects_after_gc(server)


def test_kills_during_finalizes_leave_each_object_whole_or_absent(make_server) -> None:
    """Each round uploads three parts, kills the server at a random moment of the finalize
    (before, during and after it, as timed once), restarts it: the asset is there whole (with
    its multipart ETag) or not at all, always there if the finalize was answered, and a retried
    finalize then completes it."""
    seed = crash_seed()
    rng = random.Random(seed)
    rounds = int(os.environ.get("OJIN_CRASH_FINALIZE_ROUNDS", "12"))
    server = make_server()
    timings = []
    for _ in range(3):  # the quickest of three, the first paying for warm-up
        body, parts = upload_parts(server, rng)
        started = time.monotonic()
        assert finalize(server, body, parts) == [201]
        timings.append(time.monotonic() - started)
    duration = min(timings)
    outcomes: Counter[str] = Counter()
    for round_ in range(rounds):
        body, parts = upload_parts(server, rng)
        answered: list[int] = []
        finalizing = threading.Thread(target=finalize, args=(server, body, parts, answered))
        finalizing.start()
        time.sleep(rng.uniform(0, 1.5 * duration))
        kill_and_restart(server, [finalizing])
        context = f"seed {seed}, round {round_}, answered {answered}"
        assert_database_intact(server)
        with httpx.Client(base_url=server.url, headers=DEV_KEY, timeout=30) as client:
            found = client.get(f"/v1/assets/{body['asset_id']}/download")
            outcomes[f"{answered or 'cut off'}, then {found.status_code}"] += 1
            if answered == [201]:
                assert found.status_code == 200, context
            if found.status_code != 200:
                retried = client.post("/v1/assets", json=body)
                assert retried.status_code == 201, f"{context}: {retried.text}"
                found = client.get(f"/v1/assets/{body['asset_id']}/download")
            download = httpx.get(found.json()["asset_url"], timeout=30)
        assert download.content == b"".join(parts), context
        assert download.headers["etag"] == multipart_etag(*parts) == found.json()["etag"], context
    print(f"finalize kills (seed {seed}): {dict(outcomes)}")
    assert_only_owned_objects_after_gc(server)


def kill_and_restart(
    server: Server, clients: list[threading.Thread], stop: threading.Event | None = None
) -> None:
    """SIGKILL the server mid-work, let its clients see the cut, start it on the same data dir."""
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    if stop is not None:
        stop.set()
    for client in clients:
        client.join(30)
    server.start()


def upload_parts(server: Server, rng: random.Random) -> tuple[dict, list[bytes]]:
    """Three parts PUT for a new asset: the finalize body listing them, and the parts."""
    parts = [rng.randbytes(5 * MIB), rng.randbytes(5 * MIB), rng.randbytes(1000)]
    with httpx.Client(base_url=server.url, headers=DEV_KEY, timeout=30) as client:
        session = client.post(
            "/v1/assets/initiate-upload", json={"name": "w.bin", "category": "weight"}
        ).json()
        ids = {"asset_id": session["asset_id"], "upload_id": session["upload_id"]}
        listed = []
        for number, data in enumerate(parts, start=1):
            signed = client.post("/v1/assets/sign-part", json={**ids, "part_number": number})
            etag = httpx.put(signed.json()["upload_url"], content=data).headers["etag"]
            listed.append({"part_number": number, "etag": etag})
    body = {
        **ids, "name": "w.bin", "category": "weight", "parts": listed,
        "content_type": "application/octet-stream", "size_bytes": sum(map(len, parts)),
    }  # fmt: skip
    return body, parts


def finalize(
    server: Server, body: dict, parts: list[bytes], answered: list[int] | None = None
) -> list[int]:
    """POST the finalize; its status goes into `answered` unless the server died first."""
    answered = [] if answered is None else answered
    with contextlib.suppress(httpx.HTTPError):
        answered.append(
            httpx.post(f"{server.url}/v1/assets", json=body, headers=DEV_KEY).status_code
        )
    return answered
