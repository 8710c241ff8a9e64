"""The database contract (database_contract.py) on each backend, and what only one of them has."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from tests.conftest import DATABASE_URL, Server, run_cli
from tests.database_contract import DEV_KEY, DatabaseContract
from tests.test_state import everything, populate


class TestSqlite(DatabaseContract):
    backend = "sqlite"

    def set_schema_version(self, server: Server, version: int) -> None:
        server.sql(f"PRAGMA user_version = {version}")

    def schema_version(self, server: Server) -> int:
        return server.sql("PRAGMA user_version")[0][0]

    def same_database(self, server: Server) -> dict[str, str]:
        return {DATABASE_URL: f"sqlite:///{server.sqlite_file}"}

    def test_the_database_is_in_wal_mode_and_intact(self, start) -> None:
        server = start()
        assert server.sql("PRAGMA journal_mode") == [("wal",)]
        assert server.sql("PRAGMA integrity_check") == [("ok",)]

    def test_a_database_file_named_by_url(self, start, api, tmp_path: Path) -> None:
        elsewhere = tmp_path / "elsewhere" / "records.sqlite3"
        server = start(env={DATABASE_URL: f"sqlite:///{elsewhere}"})
        created = api(server, "ojin-local-dev-key").create_config()
        assert not (server.data_dir / "ojin-local.sqlite3").exists()
        with closing(sqlite3.connect(elsewhere)) as db:
            titles = [row[0] for row in db.execute("SELECT title FROM model_config")]
        assert created["title"] in titles


class TestPostgres(DatabaseContract):
    backend = "postgres"

    def set_schema_version(self, server: Server, version: int) -> None:
        server.sql("UPDATE schema_version SET version = ?", version)

    def schema_version(self, server: Server) -> int:
        return server.sql("SELECT version FROM schema_version")[0][0]

    def same_database(self, server: Server) -> dict[str, str]:
        return {DATABASE_URL: server.env[DATABASE_URL]}

    def test_a_database_it_cannot_use_is_one_line_and_exit_1(self, postgres, tmp_path) -> None:
        missing = postgres.url("nowhere").replace("ojin@", "ojin:s3cret-pw@")
        result = run_cli("serve", "--port", "0", "--data-dir", str(tmp_path), env={
            DATABASE_URL: missing
        })  # fmt: skip
        assert result.returncode == 1
        assert result.stderr.startswith(
            f"ojin-local: error: cannot use the database postgresql://ojin:…@127.0.0.1:"
            f"{postgres.port}/nowhere: "
        )
        assert 'database "nowhere" does not exist' in result.stderr
        assert "Traceback" not in result.stderr and "s3cret-pw" not in result.stderr

    def test_nothing_is_kept_in_the_data_dir_s_sqlite_file(self, start, api) -> None:
        server = start()
        api(server, "ojin-local-dev-key").create_config()
        assert not (server.data_dir / "ojin-local.sqlite3").exists()


def test_a_snapshot_moves_from_sqlite_to_postgres_and_back(make_server, api) -> None:
    """The archive holds a SQLite database whatever the server's backend: rows are copied."""
    origin = api(make_server(database="sqlite"), DEV_KEY)
    populate(origin)
    referenced = origin.create_config(title="Referenced")["model_config_id"]
    references = f"/_ojin/model-configs/{referenced}/references"
    assert origin.post(references, json={}).status_code == 201
    before = {**everything(origin), "references": origin.get(references).json()}
    on_postgres = api(make_server(database="postgres"), DEV_KEY)
    archive = origin.get("/_ojin/state").content
    assert on_postgres.put("/_ojin/state", content=archive).status_code == 200
    assert {**everything(on_postgres), "references": on_postgres.get(references).json()} == before
    back = api(make_server(database="sqlite"), DEV_KEY)
    archive = on_postgres.get("/_ojin/state").content
    assert back.put("/_ojin/state", content=archive).status_code == 200
    assert {**everything(back), "references": back.get(references).json()} == before
