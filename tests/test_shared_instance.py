"""The shared instance (issue 16): `serve --processes 2` on Postgres, Redis and S3 (moto), with a
worker.

What only several processes can show: which config they need, that a killed API process is
replaced with nothing acknowledged lost, that SIGTERM stops them all, and that what one process
is told (fault rules, the clock, the journal) holds in the other. To know which process serves a
request, the other is frozen with SIGSTOP: the kernel hands every new connection on the shared
socket to the one still accepting.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from ojin_local.domain.portraits import portrait_png
from tests.conftest import (
    ADMIN_KEY,
    ALICE_KEY,
    PROCESSES,
    TEST_CONFIG,
    Api,
    Server,
    Worker,
    generate,
    run_cli,
    s3_storage_config,
    wait_for_job,
    wait_until,
)
from tests.moto_server import MotoServer


@pytest.fixture
def shared(make_server, tmp_path, moto: MotoServer) -> Server:
    """A shared instance of this test's own, as a team would run it across machines (Postgres,
    Redis, S3), with the shared server's keys: two API processes and a worker."""
    config = tmp_path / "config.toml"
    config.write_text(TEST_CONFIG + s3_storage_config(moto, f"ojin-shared-{uuid.uuid4().hex[:8]}"))
    return make_server("--config", str(config), database="shared")


@contextmanager
def only(server: Server, pid: int) -> Iterator[None]:
    """While inside, only the API process `pid` accepts connections (the others are stopped)."""
    others = [other for other in server.api_processes() if other != pid]
    for other in others:
        os.kill(other, signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)


def fresh(server: Server, contract: Any, key: str) -> Api:
    """A client that opens a new connection for every request (so `only` decides who serves)."""
    client = Api(server.url, contract, key)
    client.headers["Connection"] = "close"
    return client


def serving(server: Server) -> dict[str, int]:
    return httpx.get(f"{server.url}/_ojin/health", timeout=10).json()["processes"]


def test_more_than_one_process_needs_a_shared_database_and_queue(tmp_path, database_env) -> None:
    alone = run_cli("serve", "--processes", "2", "--port", "0", "--data-dir", str(tmp_path / "a"))
    assert alone.returncode == 2
    assert "[server] processes = 2 needs a database every process shares" in alone.stderr
    assert "[database] url" in alone.stderr
    env = {**database_env("postgres"), PROCESSES: "2"}
    no_queue = run_cli("serve", "--port", "0", "--data-dir", str(tmp_path / "b"), env=env)
    assert no_queue.returncode == 2
    assert "[jobs] queue" in no_queue.stderr and "redis" in no_queue.stderr


def test_health_counts_the_processes_and_a_killed_one_is_replaced(shared: Server, contract) -> None:
    """Writes go on while one API process is SIGKILLed: every acknowledged one is kept."""
    assert "processes: 2 API processes; `ojin-local worker` runs jobs" in shared.log
    assert serving(shared) == {"configured": 2, "serving": 2}
    first = shared.api_processes()
    assert len(first) == 2
    acknowledged: list[str] = []
    stop = threading.Event()

    def write() -> None:
        client = fresh(shared, contract, ALICE_KEY)
        while not stop.is_set():
            title = f"kept-{uuid.uuid4().hex[:12]}"
            body = {"title": title, "model_variant_id": "ojin/oris-1.0/standard"}
            try:
                response = client.post("/v1/model-configs", json=body)
            except httpx.TransportError:
                continue  # the process that had it died: not acknowledged
            assert response.status_code == 201, response.text
            acknowledged.append(response.json()["model_config_id"])

    with ThreadPoolExecutor(8) as pool:
        writers = [pool.submit(write) for _ in range(8)]
        time.sleep(1.0)
        os.kill(first[0], signal.SIGKILL)
        time.sleep(1.0)
        stop.set()
        for writer in writers:
            writer.result()
    assert wait_until(lambda: serving(shared) == {"configured": 2, "serving": 2}, timeout=20)
    now = shared.api_processes()
    assert first[0] not in now and first[1] in now and len(now) == 2
    reader = Api(shared.url, contract, ALICE_KEY)
    assert len(acknowledged) > 20
    for model_config_id in acknowledged:
        assert reader.get(f"/v1/model-configs/{model_config_id}").status_code == 200


def test_sigterm_stops_every_process(shared: Server) -> None:
    processes = shared.api_processes()
    assert shared.stop() == 0
    for pid in processes:
        assert not os.path.exists(f"/proc/{pid}"), f"API process {pid} outlived its supervisor"


def test_an_api_process_whose_supervisor_is_killed_stops(shared: Server) -> None:
    processes = shared.api_processes()
    assert shared.stop(signal.SIGKILL) == -signal.SIGKILL
    assert wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in processes), 10)


def test_fault_rules_count_once_across_processes(shared: Server, contract) -> None:
    one, other = shared.api_processes()
    admin = fresh(shared, contract, ADMIN_KEY)
    with only(shared, one):
        rule = {"operation_id": "listModelConfigs", "status": 503, "times": 3}
        fault_id = admin.post("/_ojin/faults", json=rule).json()["fault_id"]
    alice = fresh(shared, contract, ALICE_KEY)
    with only(shared, other):
        codes = [alice.get("/v1/model-configs").status_code for _ in range(2)]
    with only(shared, one):
        codes += [alice.get("/v1/model-configs").status_code for _ in range(2)]
    assert codes == [503, 503, 503, 200]
    assert admin.get("/_ojin/faults").json()["data"] == []  # spent, so gone
    with only(shared, other):
        rule = {"operation_id": "listModelConfigs", "status": 500}
        fault_id = admin.post("/_ojin/faults", json=rule).json()["fault_id"]
    with only(shared, one):
        assert alice.get("/v1/model-configs").status_code == 500
        assert admin.delete(f"/_ojin/faults/{fault_id}").status_code == 204
    with only(shared, other):
        assert alice.get("/v1/model-configs").status_code == 200


def test_the_clock_and_namespaces_are_one_across_processes(shared: Server, contract) -> None:
    one, other = shared.api_processes()
    admin = fresh(shared, contract, ADMIN_KEY)
    with only(shared, one):
        assert admin.post("/_ojin/clock", json={"advance_seconds": 3600}).status_code == 200
        namespace = admin.post("/_ojin/namespaces", json={}).json()
        clock = f"/_ojin/namespaces/{namespace['namespace_id']}/clock"
        assert admin.post(clock, json={"advance_seconds": 60}).status_code == 200
    with only(shared, other):
        assert admin.get("/_ojin/clock").json()["offset_seconds"] == 3600
        assert admin.get(clock).json()["offset_seconds"] == 3660
        tenant = fresh(shared, contract, namespace["api_key"])
        made = tenant.create_config()
    stamp = made["created_at"]
    assert stamp > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 3600))
    with only(shared, one):
        assert admin.delete(clock).status_code == 200
        assert admin.delete(f"/_ojin/namespaces/{namespace['namespace_id']}").status_code == 204
    with only(shared, other):
        assert admin.get(clock).status_code == 404
        assert tenant.get("/v1/model-configs").status_code == 401


def test_the_journal_is_one_across_processes(shared: Server, contract) -> None:
    one, other = shared.api_processes()
    alice = fresh(shared, contract, ALICE_KEY)
    admin = fresh(shared, contract, ADMIN_KEY)
    sent = {}
    for pid in (one, other):
        with only(shared, pid):
            request_id = f"from-{pid}"
            response = alice.get("/v1/model-configs", headers={"X-Request-Id": request_id})
            sent[request_id] = response.status_code
    for pid in (one, other):
        with only(shared, pid):
            listed = admin.get("/_ojin/requests", params={"organization_id": "org_alice"})
            ids = {entry["request_id"] for entry in listed.json()["data"]}
            assert set(sent) <= ids
            for request_id in sent:
                entry = admin.get(f"/_ojin/requests/{request_id}").json()
                assert entry["response_body"]["json"]["pagination"]["offset"] == 0
    with only(shared, one):
        assert admin.delete("/_ojin/requests").status_code == 204
    with only(shared, other):
        assert admin.get("/_ojin/requests").json()["data"] == []


def test_racing_titles_and_finalizes_across_processes(shared: Server, contract) -> None:
    """Sixteen requests at once over new connections, so both processes take some: one wins."""
    client = fresh(shared, contract, ALICE_KEY)
    body = {"title": f"raced-{uuid.uuid4().hex[:8]}", "model_variant_id": "ojin/oris-1.0/standard"}
    with ThreadPoolExecutor(16) as pool:
        creates = list(pool.map(lambda _: client.post("/v1/model-configs", json=body), range(16)))
    assert sorted(r.status_code for r in creates) == [201] + [409] * 15
    session = client.start_upload()
    parts = client.put_parts(session, [portrait_png(1)])
    size = len(portrait_png(1))
    with ThreadPoolExecutor(16) as pool:
        finals = list(pool.map(lambda _: client.finalize(session, parts, size), range(16)))
    assert sorted(r.status_code for r in finals) == [201] + [409] * 15


def test_a_worker_killed_mid_job_leaves_no_job_unfinished(shared: Server, contract) -> None:
    client = Api(shared.url, contract, ALICE_KEY)
    source = client.upload(portrait_png(0), "killed.png")
    job_id = generate(client, source["asset_id"])
    assert wait_until(
        lambda: client.get(f"/v1/jobs/{job_id}").json()["status"] == "running", timeout=30
    )
    assert shared.worker is not None
    shared.worker.stop(signal.SIGKILL)
    assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "running"
    shared.worker = Worker(shared.data_dir, shared.args, shared.env).start()
    job = wait_for_job(client, job_id)
    assert (job["status"], job["attempts"]) == ("succeeded", 2)
