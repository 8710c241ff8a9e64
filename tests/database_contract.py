"""One database contract, run against every backend (huey's `StorageTests` mixin is the model).

Each backend's test module subclasses `DatabaseContract`, names its `backend` and says how to
reach its schema version. Everything is observed the way a user would: real servers over HTTP,
restarts, and the CLI. The races run between two server processes on one database (and one data
dir, for the objects), so the rules a single process could keep by itself (title uniqueness, one
finalize per upload, one claim per job, no reference added to a configuration being deleted)
are shown to hold across processes: by SQLite's file lock on one, by Postgres's constraints,
conditional updates and serializable transactions on the other.
"""

from __future__ import annotations

import re
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ojin_local.db.migrations import SCHEMA_VERSION
from ojin_local.domain.portraits import portrait_png
from tests.conftest import (
    GENERATE,
    TEMPLATE_KEY,
    Api,
    Server,
    clean_env,
    ojin_local_command,
    run_cli,
    s3_storage_config,
    wait_for_job,
)

DEV_KEY = "ojin-local-dev-key"
SEEDED = {"Friendly Receptionist", "Product Presenter HD", "Mobile Support Agent"}
WORKERS = 32


def config_with_curator(tmp_path: Path) -> Path:
    path = tmp_path / "curator.toml"
    path.write_text(
        f'[[api_keys]]\nkey = "{TEMPLATE_KEY}"\norganization_id = "org_template"\n'
        'user_id = "user_curator"\nadmin = true\n'
    )
    return path


class PerThread:
    """One kept-alive client per worker thread, as many real clients would have, spread over the
    servers given (thread i talks to server i mod n)."""

    def __init__(self, servers: list[Server], contract: Any, key: str) -> None:
        self.servers, self.contract, self.key = servers, contract, key
        self.local = threading.local()
        self.clients: list[Api] = []
        self.lock = threading.Lock()

    def __call__(self) -> Api:
        if not hasattr(self.local, "client"):
            with self.lock:
                server = self.servers[len(self.clients) % len(self.servers)]
                self.local.client = Api(server.url, self.contract, self.key)
                self.clients.append(self.local.client)
        return self.local.client

    def close(self) -> None:
        for client in self.clients:
            client.close()


class DatabaseContract:
    """What every database backend must do alike."""

    backend: str

    def set_schema_version(self, server: Server, version: int) -> None:
        raise NotImplementedError

    def schema_version(self, server: Server) -> int:
        raise NotImplementedError

    def same_database(self, server: Server) -> dict[str, str]:
        """The environment that points another process with another data dir at `server`'s
        database."""
        raise NotImplementedError

    @pytest.fixture
    def start(self, make_server) -> Callable[..., Server]:
        def start(*args: str, **kwargs: Any) -> Server:
            return make_server(*args, database=self.backend, **kwargs)

        return start

    @pytest.fixture
    def pair(self, start) -> list[Server]:
        """Two server processes on one database and one data dir."""
        first = start()
        return [first, start(data_dir=first.data_dir, env=first.env)]

    @pytest.fixture
    def per_thread(self, contract) -> Iterator[Callable[[list[Server], str], PerThread]]:
        made: list[PerThread] = []

        def make(servers: list[Server], key: str = DEV_KEY) -> PerThread:
            made.append(PerThread(servers, contract, key))
            return made[-1]

        yield make
        for clients in made:
            clients.close()

    # Persistence and the schema

    def test_data_survives_a_restart(self, start, api) -> None:
        server = start()
        created = api(server, DEV_KEY).create_config(model_configurations={"fps": 30})
        server.restart()
        again = api(server, DEV_KEY)
        assert again.get(f"/v1/model-configs/{created['model_config_id']}").json() == created

    def test_the_demo_seed_loads_once_so_deleted_templates_stay_deleted(
        self, start, api, tmp_path: Path
    ) -> None:
        server = start("--config", str(config_with_curator(tmp_path)))
        curator = api(server, TEMPLATE_KEY)
        templates = curator.get("/v1/model-configs", params={"source": "template"}).json()["data"]
        assert {t["title"] for t in templates} == SEEDED
        doomed = templates[0]["model_config_id"]
        assert curator.delete(f"/v1/model-configs/{doomed}").status_code == 204
        server.restart()
        curator = api(server, TEMPLATE_KEY)
        after = curator.get("/v1/model-configs", params={"source": "template"}).json()
        assert after["pagination"]["total_items"] == 2
        assert doomed not in [t["model_config_id"] for t in after["data"]]

    def test_the_schema_version_is_stored_and_reported(self, start, api) -> None:
        server = start()
        database = api(server, None).get("/_ojin/health").json()["database"]
        assert (database["status"], database["backend"]) == ("ok", self.backend)
        assert database["schema_version"] == SCHEMA_VERSION == self.schema_version(server)

    def test_a_newer_database_is_refused_and_left_alone(self, start) -> None:
        server = start()
        server.stop()
        self.set_schema_version(server, 99)
        data_dir = str(server.data_dir)
        result = run_cli("serve", "--port", "0", "--data-dir", data_dir, env=server.env)
        assert result.returncode == 1
        assert "schema version 99" in result.stderr and "upgrade ojin-local" in result.stderr
        assert "serving" not in result.stdout
        assert self.schema_version(server) == 99

    def test_catalog_changes_apply_on_restart_and_keep_variants_in_use(
        self, start, api, tmp_path: Path
    ) -> None:
        config = tmp_path / "variants.toml"
        variant = (
            '[[model_variants]]\nmodel_variant_id = "acme/tmp-1/basic"\nmodel_id = "acme/tmp-1"\n'
            'title = "Temporary"\ntags = ["tmp"]\n'
        )
        config.write_text(variant)
        server = start("--config", str(config))
        dev = api(server, DEV_KEY)
        first = dev.get("/v1/model-variants/acme/tmp-1/basic").json()
        dev.create_config(model_variant_id="acme/tmp-1/basic")

        config.write_text(variant.replace("Temporary", "Renamed"))
        server.restart()
        dev = api(server, DEV_KEY)
        renamed = dev.get("/v1/model-variants/acme/tmp-1/basic").json()
        assert renamed["title"] == "Renamed"
        assert renamed["created_at"] == first["created_at"]
        assert renamed["updated_at"] > first["updated_at"]

        config.write_text("")
        server.restart()
        dev = api(server, DEV_KEY)
        assert dev.get("/v1/model-variants/acme/tmp-1/basic").status_code == 200

    def test_two_processes_starting_together_on_a_new_database(
        self, start, api, database_env, tmp_path: Path
    ) -> None:
        """One migrates and loads the demo seed; the other finds both done."""
        env = database_env(self.backend)
        with ThreadPoolExecutor(2) as pool:
            started = list(
                pool.map(lambda _: start(data_dir=tmp_path / "together", env=env), range(2))
            )
        for server in started:
            client = api(server, DEV_KEY)
            templates = client.get("/v1/model-configs", params={"source": "template"}).json()
            assert {t["title"] for t in templates["data"]} == SEEDED
            assert "Traceback" not in server.log

    # Concurrency: every acknowledged write stays, no lock surfaces as an error

    def test_concurrent_creates_updates_and_deletes(self, pair, per_thread) -> None:
        clients = per_thread(pair)

        def create(_: int) -> tuple[int, dict]:
            response = clients().post(
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
            if config["title"] < "race-8":
                body = {"title": config["title"] + "-u", "model_configurations": {"fps": 30}}
                return clients().put(path, json=body).status_code
            return clients().delete(path).status_code

        with ThreadPoolExecutor(WORKERS) as pool:
            statuses = list(pool.map(update_or_delete, created))
        assert set(statuses) <= {200, 204}

        for (_, config), status in zip(created, statuses, strict=True):
            got = clients().get(f"/v1/model-configs/{config['model_config_id']}")
            if status == 200:
                assert got.json()["title"] == config["title"] + "-u"
                assert got.json()["model_configurations"] == {"fps": 30}
            else:
                assert got.status_code == 404
        listed = clients().get("/v1/model-configs", params={"limit": 1}).json()
        assert listed["pagination"]["total_items"] == statuses.count(200)
        for server in pair:
            assert "database is locked" not in server.log and "Traceback" not in server.log

    # Rules that hold across processes

    def test_racing_creates_with_one_title_leave_exactly_one(self, pair, per_thread) -> None:
        clients = per_thread(pair)
        title = f"contested-{uuid.uuid4().hex}"

        def create(_: int) -> int:
            body = {"title": title, "model_variant_id": "ojin/oris-1.0/fast"}
            return clients().post("/v1/model-configs", json=body).status_code

        with ThreadPoolExecutor(WORKERS) as pool:
            statuses = sorted(pool.map(create, range(WORKERS)))
        assert statuses == [201] + [409] * (WORKERS - 1)

    def test_racing_renames_to_one_title_leave_exactly_one(self, pair, per_thread) -> None:
        clients = per_thread(pair)
        title = f"rename-target-{uuid.uuid4().hex}"
        configs = [clients().create_config() for _ in range(16)]

        def rename(config: dict) -> int:
            body = {"title": title, "model_configurations": {}}
            path = f"/v1/model-configs/{config['model_config_id']}"
            return clients().put(path, json=body).status_code

        with ThreadPoolExecutor(16) as pool:
            statuses = sorted(pool.map(rename, configs))
        assert statuses == [200] + [409] * 15

    def test_racing_finalizes_of_one_upload_leave_one_asset(self, pair, api) -> None:
        clients = [api(server, DEV_KEY) for server in pair]
        uploads = []
        for i in range(8):
            data, name = f"bytes of upload {i}".encode(), f"raced-{i}.bin"
            session = clients[0].start_upload(name, "weight")
            uploads.append((session, clients[0].put_parts(session, [data]), len(data), name))

        def finalize(attempt: tuple[Api, tuple[dict, list[dict], int, str]]) -> int:
            client, (session, parts, size, name) = attempt
            body = {"name": name, "category": "weight", "content_type": "application/x-weights"}
            return client.finalize(session, parts, size, **body).status_code

        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(finalize, [(c, u) for u in uploads for c in clients]))
        assert [sorted(statuses[i : i + 2]) for i in range(0, len(statuses), 2)] == [
            [201, 409]
        ] * len(uploads)
        listed = clients[1].get("/v1/assets", params={"category": "weight", "limit": 100}).json()
        assert sorted(a["name"] for a in listed["data"]) == sorted(u[3] for u in uploads)

    def test_a_reference_never_outlives_its_deleted_configuration(self, pair, api) -> None:
        deleter, referrer = (api(server, DEV_KEY) for server in pair)

        def delete(config_id: str) -> int:
            return deleter.delete(f"/v1/model-configs/{config_id}").status_code

        def refer(config_id: str) -> int:
            path = f"/_ojin/model-configs/{config_id}/references"
            return referrer.post(path, json={}).status_code

        outcomes = set()
        with ThreadPoolExecutor(2) as pool:
            for _ in range(20):
                config_id = deleter.create_config()["model_config_id"]
                deleted, referred = pool.submit(delete, config_id), pool.submit(refer, config_id)
                outcome = (deleted.result(), referred.result())
                assert outcome in {(204, 404), (409, 201)}, outcome
                still = deleter.get(f"/v1/model-configs/{config_id}").status_code
                assert still == (404 if outcome[0] == 204 else 200)
                outcomes.add(outcome)

    def test_each_job_runs_once_when_two_workers_are_handed_it(
        self, start, api, moto, tmp_path: Path
    ) -> None:
        """Two workers with queues of their own on one database: each puts every queued job on
        its own queue at start (recovery), so both are handed every job; one claim wins."""
        bucket = f"ojin-claims-{uuid.uuid4().hex[:8]}"
        config = tmp_path / "claims.toml"
        config.write_text(s3_storage_config(moto, bucket) + "\n[jobs]\nidle_video_max_side = 32\n")
        server = start("--no-jobs", "--config", str(config))
        client = api(server, DEV_KEY)
        source = client.upload(portrait_png(1), "claimed.png")
        job_ids = [client.post(GENERATE, json={"source_asset_id": source["asset_id"]})
                   .json()["job_id"] for _ in range(4)]  # fmt: skip
        environments = [server.env, {**server.env, **self.same_database(server)}]
        workers = [
            subprocess.Popen(
                [*ojin_local_command(), "worker", "--config", str(config), "--data-dir", data_dir],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=clean_env(env),
            )
            for data_dir, env in zip(
                (str(server.data_dir), str(tmp_path / "second-worker")), environments, strict=True
            )
        ]
        try:
            jobs = [wait_for_job(client, job_id) for job_id in job_ids]
        finally:
            for worker in workers:
                worker.terminate()
            output = "".join(worker.communicate(timeout=30)[0] for worker in workers)
        assert [(job["status"], job["attempts"]) for job in jobs] == [("succeeded", 1)] * 4
        for job_id in job_ids:
            assert len(re.findall(rf"job {job_id} \(\S+\) started", output)) == 1, output
        videos = client.get("/v1/assets", params={"category": "video"}).json()
        assert videos["pagination"]["total_items"] == 4
