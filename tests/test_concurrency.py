"""Concurrent writes: no "database is locked", uniqueness holds, every acknowledged write stays."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import BOB_KEY, Api, Server

WORKERS = 32


@pytest.fixture
def bob_per_thread(server: Server, contract) -> Iterator:
    """One kept-alive client per worker thread, as 32 real clients would have."""
    local = threading.local()
    clients: list[Api] = []

    def client() -> Api:
        if not hasattr(local, "client"):
            local.client = Api(server.url, contract, BOB_KEY)
            clients.append(local.client)
        return local.client

    yield client
    for made in clients:
        made.close()


def test_concurrent_creates_updates_and_deletes(server: Server, bob_per_thread) -> None:
    def create(i: int) -> tuple[int, dict]:
        response = bob_per_thread().post(
            "/v1/model-configs",
            json={"title": f"race-{uuid.uuid4().hex}", "model_variant_id": "ojin/oris-1.0/hd"},
        )
        return response.status_code, response.json()

    with ThreadPoolExecutor(WORKERS) as pool:
        created = list(pool.map(create, range(200)))
    assert {status for status, _ in created} == {201}

    def update_or_delete(item: tuple[int, dict]) -> int:
        config = item[1]
        path = f"/v1/model-configs/{config['model_config_id']}"
        client = bob_per_thread()
        if config["title"] < "race-8":
            body = {"title": config["title"] + "-u", "model_configurations": {"fps": 30}}
            return client.put(path, json=body).status_code
        return client.delete(path).status_code

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = list(pool.map(update_or_delete, created))
    assert set(statuses) <= {200, 204}

    client = bob_per_thread()
    for (_, config), status in zip(created, statuses, strict=True):
        got = client.get(f"/v1/model-configs/{config['model_config_id']}")
        if status == 200:
            assert got.json()["title"] == config["title"] + "-u"
            assert got.json()["model_configurations"] == {"fps": 30}
        else:
            assert got.status_code == 404
    assert "database is locked" not in server.log


def test_racing_creates_with_one_title_leave_exactly_one(server: Server, bob_per_thread) -> None:
    title = f"contested-{uuid.uuid4().hex}"

    def create(_: int) -> int:
        body = {"title": title, "model_variant_id": "ojin/oris-1.0/fast"}
        return bob_per_thread().post("/v1/model-configs", json=body).status_code

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = sorted(pool.map(create, range(WORKERS)))
    assert statuses == [201] + [409] * (WORKERS - 1)


def test_racing_renames_to_one_title_leave_exactly_one(server: Server, bob_per_thread) -> None:
    title = f"rename-target-{uuid.uuid4().hex}"
    configs = [bob_per_thread().create_config() for _ in range(16)]

    def rename(config: dict) -> int:
        body = {"title": title, "model_configurations": {}}
        path = f"/v1/model-configs/{config['model_config_id']}"
        return bob_per_thread().put(path, json=body).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = sorted(pool.map(rename, configs))
    assert statuses == [200] + [409] * 15
