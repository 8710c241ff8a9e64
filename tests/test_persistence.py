"""Data survives restarts; the schema is versioned; the demo seed loads once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ojin_local.db.migrations import SCHEMA_VERSION
from tests.conftest import TEMPLATE_KEY, run_cli

SEEDED = {"Friendly Receptionist", "Product Presenter HD", "Mobile Support Agent"}


def config_with_curator(tmp_path: Path) -> Path:
    path = tmp_path / "curator.toml"
    path.write_text(
        f'[[api_keys]]\nkey = "{TEMPLATE_KEY}"\norganization_id = "org_template"\n'
        'user_id = "user_curator"\nadmin = true\n'
    )
    return path


def test_data_survives_a_restart(make_server, api, tmp_path: Path) -> None:
    server = make_server()
    created = api(server, "ojin-local-dev-key").create_config(model_configurations={"fps": 30})
    server.restart()
    again = api(server, "ojin-local-dev-key")
    assert again.get(f"/v1/model-configs/{created['model_config_id']}").json() == created


def test_the_demo_seed_loads_once_so_deleted_templates_stay_deleted(
    make_server, api, tmp_path: Path
) -> None:
    server = make_server("--config", str(config_with_curator(tmp_path)))
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


def test_the_database_is_in_wal_mode_with_a_schema_version(make_server, api) -> None:
    server = make_server()
    health = api(server, None).get("/_ojin/health").json()
    assert health["database"]["schema_version"] == SCHEMA_VERSION
    db_path = server.data_dir / "ojin-local.sqlite3"
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_newer_database_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    data_dir = tmp_path / "future"
    data_dir.mkdir()
    with sqlite3.connect(data_dir / "ojin-local.sqlite3") as db:
        db.execute("PRAGMA user_version = 99")
    result = run_cli("serve", "--port", "0", "--data-dir", str(data_dir))
    assert result.returncode == 1
    assert "schema version 99" in result.stderr
    assert "upgrade ojin-local" in result.stderr
    assert "serving" not in result.stdout
    with sqlite3.connect(data_dir / "ojin-local.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 99
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def test_catalog_changes_apply_on_restart_and_keep_variants_in_use(
    make_server, api, tmp_path: Path
) -> None:
    config = tmp_path / "variants.toml"
    variant = (
        '[[model_variants]]\nmodel_variant_id = "acme/tmp-1/basic"\nmodel_id = "acme/tmp-1"\n'
        'title = "Temporary"\ntags = ["tmp"]\n'
    )
    config.write_text(variant)
    server = make_server("--config", str(config))
    dev = api(server, "ojin-local-dev-key")
    first = dev.get("/v1/model-variants/acme/tmp-1/basic").json()
    dev.create_config(model_variant_id="acme/tmp-1/basic")

    config.write_text(variant.replace("Temporary", "Renamed"))
    server.restart()
    dev = api(server, "ojin-local-dev-key")
    renamed = dev.get("/v1/model-variants/acme/tmp-1/basic").json()
    assert renamed["title"] == "Renamed"
    assert renamed["created_at"] == first["created_at"]
    assert renamed["updated_at"] > first["updated_at"]

    config.write_text("")
    server.restart()
    dev = api(server, "ojin-local-dev-key")
    assert dev.get("/v1/model-variants/acme/tmp-1/basic").status_code == 200
