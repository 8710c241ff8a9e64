"""Secrets stay secret: API keys are stored hashed, and no key, signature, signing secret or
storage credential appears in the logs (even at debug level), the request journal, an error
answer, `config show`, `keys list` or a config error.

These read the local server's data dir and logs, so they run against local servers only.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.conftest import Api, run_cli, s3_storage_config, wait_until
from tests.moto_server import MotoServer

pytestmark = pytest.mark.secrets

CONFIGURED_KEY = f"sk-configured-{uuid.uuid4().hex}"
S3_SECRET = f"s3-secret-{uuid.uuid4().hex}"
REDIS_PASSWORD = f"redis-pw-{uuid.uuid4().hex}"
DATABASE_PASSWORD = f"db-pw-{uuid.uuid4().hex}"


def config_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(
        f'[[api_keys]]\nkey = "{CONFIGURED_KEY}"\norganization_id = "org_s"\nuser_id = "u_s"\n'
        f"admin = true\n{extra}"
    )
    return path


def files_holding(root: Path, needle: bytes) -> list[str]:
    files = (path for path in root.rglob("*") if path.is_file())
    return [str(path.relative_to(root)) for path in files if needle in path.read_bytes()]


def test_created_keys_are_stored_only_as_their_sha256(make_server, api, tmp_path: Path) -> None:
    server = make_server("--config", str(config_file(tmp_path)))
    created = run_cli(
        "keys", "create", "--org", "org_k", "--user", "u_k", "--data-dir", str(server.data_dir)
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert wait_until(lambda: api(server, key).get("/v1/model-configs").status_code == 200)
    listed = run_cli("keys", "list", "--data-dir", str(server.data_dir)).stdout
    assert key not in listed and key[:13] in listed  # the prefix identifies it, no more
    for secret in (key, CONFIGURED_KEY):
        assert files_holding(server.data_dir, secret.encode()) == []
    digest = hashlib.sha256(key.encode()).hexdigest().encode()
    assert files_holding(server.data_dir, digest) != []  # what is stored instead


def signatures(url: str) -> list[str]:
    return [v for k, v in parse_qsl(urlsplit(url).query) if k.endswith("Signature")]


def exercise(client: Api, server_url: str) -> list[str]:
    """Requests that carry secrets: good, unknown and malformed keys, an upload and a download
    through pre-signed URLs, an error. Returns the secrets they carried besides the keys."""
    unknown = f"sk-unknown-{uuid.uuid4().hex}"
    refused = httpx.get(f"{server_url}/v1/model-configs", headers={"X-API-Key": unknown})
    assert refused.status_code == 401 and unknown not in refused.text
    assert client.post("/v1/model-configs", content=b"{").status_code == 400
    session = client.start_upload("secret.png")
    signed = client.post(
        "/v1/assets/sign-part",
        json={"asset_id": session["asset_id"], "upload_id": session["upload_id"], "part_number": 1},
    ).json()["upload_url"]
    asset = client.upload(b"secret bytes", "secret.png")
    download = client.get(f"/v1/assets/{asset['asset_id']}/download").json()["asset_url"]
    assert httpx.get(download).content == b"secret bytes"
    return [unknown, *signatures(signed), *signatures(download)]


def assert_nowhere(haystacks: dict[str, str], secrets: list[str]) -> None:
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"{secret[:12]}... appears in {where}"


def test_no_secret_in_logs_or_journal_filesystem(make_server, api, tmp_path: Path) -> None:
    server = make_server("--config", str(config_file(tmp_path)), "--log-level", "debug")
    client = api(server, CONFIGURED_KEY)
    carried = exercise(client, server.url)
    journal = client.get("/_ojin/requests", params={"limit": 1000}).text
    signing_key = (server.data_dir / "storage" / "signing.key").read_text().strip()
    server.stop()
    assert "GET /v1/model-configs 401" in server.log  # the log is there, and detailed
    assert_nowhere(
        {"the log": server.log, "the journal": journal},
        [CONFIGURED_KEY, signing_key, *carried],
    )


def test_no_secret_in_logs_s3(make_server, api, tmp_path: Path, moto: MotoServer) -> None:
    """Debug level included: botocore logs its requests there, signatures and all."""
    storage = s3_storage_config(moto, "ojin-secrets").replace(
        'secret_access_key = "testing"', f'secret_access_key = "{S3_SECRET}"'
    )
    assert S3_SECRET in storage
    server = make_server("--config", str(config_file(tmp_path, storage)), "--log-level", "debug")
    client = api(server, CONFIGURED_KEY)
    carried = exercise(client, server.url)
    health = client.get("/_ojin/health").text
    server.stop()
    assert " DEBUG " in server.log  # the log is at debug level
    assert_nowhere({"the log": server.log, "health": health}, [CONFIGURED_KEY, S3_SECRET, *carried])


def test_no_database_password_in_logs_health_or_journal(make_server, api, postgres) -> None:
    url = postgres.create_database().replace("ojin@", f"ojin:{DATABASE_PASSWORD}@")
    env = {"OJIN_LOCAL_DATABASE_URL": url}
    server = make_server("--log-level", "debug", database="postgres", env=env)
    client = api(server, "ojin-local-dev-key")
    client.create_config()
    health = client.get("/_ojin/health").json()
    journal = client.get("/_ojin/requests", params={"limit": 1000}).text
    server.stop()
    assert health["database"]["url"].startswith("postgresql://ojin:…@127.0.0.1:")
    assert "  database:  postgresql://ojin:…@127.0.0.1:" in server.log
    assert_nowhere(
        {"the log": server.log, "health": str(health), "the journal": journal}, [DATABASE_PASSWORD]
    )


def test_config_show_masks_every_secret(tmp_path: Path) -> None:
    extra = (
        f'[storage.s3]\nsecret_access_key = "{S3_SECRET}"\n'
        f'[jobs]\nredis_url = "redis://:{REDIS_PASSWORD}@cache.internal:6379/0"\n'
        f'[database]\nurl = "postgresql://ojin:{DATABASE_PASSWORD}@db.internal:5432/ojin"\n'
    )
    shown = run_cli("config", "show", "--config", str(config_file(tmp_path, extra)))
    assert shown.returncode == 0, shown.stderr
    for secret in (CONFIGURED_KEY, S3_SECRET, REDIS_PASSWORD, DATABASE_PASSWORD):
        assert secret not in shown.stdout
    assert 'url = "postgresql://ojin:…@db.internal:5432/ojin"' in shown.stdout
    digest = hashlib.sha256(CONFIGURED_KEY.encode()).hexdigest()
    assert f'key = "sha256:{digest[:12]}…"' in shown.stdout
    assert 'redis_url = "redis://:…@cache.internal:6379/0"' in shown.stdout
    env = {"OJIN_LOCAL_JOBS_REDIS_URL": f"redis://u:{REDIS_PASSWORD}@h/1"}
    from_env = run_cli("config", "show", env=env)
    assert REDIS_PASSWORD not in from_env.stdout and "redis://u:…@h/1" in from_env.stdout
    env = {"OJIN_LOCAL_DATABASE_URL": f"postgresql://u:{DATABASE_PASSWORD}@h:5432/d"}
    from_env = run_cli("config", "show", env=env)
    assert DATABASE_PASSWORD not in from_env.stdout
    assert "postgresql://u:…@h:5432/d" in from_env.stdout


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://u:{pw}@h/db", "must be empty, sqlite:///PATH or postgresql://"),
        ("postgresql://u:{pw}@h/", "must be empty, sqlite:///PATH or postgresql://"),
        ("postgresql://u:{pw}/x@h/db", "must be empty, sqlite:///PATH or postgresql://"),
        ("sqlite://relative.db", "must be empty, sqlite:///PATH or postgresql://"),
    ],
)
def test_a_bad_database_url_is_a_config_error_without_its_password(url: str, problem: str) -> None:
    env = {"OJIN_LOCAL_DATABASE_URL": url.format(pw=DATABASE_PASSWORD)}
    result = run_cli("config", "show", env=env)
    assert result.returncode == 2
    assert f"[database] url {problem}" in result.stderr
    assert "(environment variable OJIN_LOCAL_DATABASE_URL)" in result.stderr
    assert DATABASE_PASSWORD not in result.stderr


def test_a_postgres_url_without_the_client_names_the_extra(monkeypatch) -> None:
    """As where the postgres extra is not installed: the import system finds no psycopg."""
    import importlib.machinery

    from ojin_local.config import ConfigError, load_config

    find_spec = importlib.machinery.PathFinder.find_spec
    monkeypatch.setattr(
        importlib.machinery.PathFinder,
        "find_spec",
        lambda name, *args: None if name == "psycopg" else find_spec(name, *args),
    )
    env = {"OJIN_LOCAL_DATABASE_URL": f"postgresql://u:{DATABASE_PASSWORD}@h:5432/d"}
    with pytest.raises(ConfigError) as refused:
        load_config(env=env)
    message = str(refused.value)
    assert message.startswith(
        "[database] url needs the Postgres client: pip install 'ojin-local[postgres]'"
    )
    assert "OJIN_LOCAL_DATABASE_URL" in message and DATABASE_PASSWORD not in message


def test_a_config_error_never_echoes_a_secret(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[api_keys]]\nkey = 918273645546372819\norganization_id = "o"\nuser_id = "u"\n'
    )
    result = run_cli("config", "show", "--config", str(path))
    assert result.returncode == 2
    assert "[api_keys[0]] key must be a string" in result.stderr
    assert "918273645546372819" not in result.stderr
