"""The command line: version, config layering and errors, keys, signals."""

from __future__ import annotations

import hashlib
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Api, clean_env, ojin_local_command, run_cli, wait_until


def test_config_show_prints_defaults_with_the_data_dir_resolved(tmp_path: Path) -> None:
    result = run_cli("config", "show", "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 0, result.stderr
    assert 'host = "127.0.0.1"' in result.stdout
    assert "port = 8080" in result.stdout
    assert f'data_dir = "{tmp_path / "d"}"' in result.stdout
    assert 'backend = "filesystem"' in result.stdout


def test_config_show_tells_keys_apart_by_a_prefix_of_their_hash(tmp_path: Path) -> None:
    keys = ["sk-team-0123456789-a", "sk-team-0123456789-b"]
    config = tmp_path / "keys.toml"
    config.write_text(
        "".join(f'[[api_keys]]\nkey = "{k}"\norganization_id = "o"\nuser_id = "u"\n' for k in keys)
    )
    shown = run_cli("config", "show", "--config", str(config))
    assert shown.returncode == 0, shown.stderr
    labels = re.findall(r'key = "(sha256:[0-9a-f]{12})…"', shown.stdout)
    assert labels == [f"sha256:{hashlib.sha256(k.encode()).hexdigest()[:12]}" for k in keys]
    assert not any(k in shown.stdout for k in keys)


def test_flags_override_environment_which_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[server]\nport = 7001\nhost = "127.0.0.2"\nlog_level = "warning"\n')
    env = {"OJIN_LOCAL_SERVER_PORT": "7002", "OJIN_LOCAL_STORAGE_BACKEND": "s3"}
    shown = run_cli("config", "show", "--config", str(config), env=env).stdout
    assert "port = 7002" in shown
    assert 'host = "127.0.0.2"' in shown
    assert 'backend = "s3"' in shown
    assert 'log_level = "warning"' in shown


def test_the_port_flag_beats_the_environment(make_server) -> None:
    server = make_server(env={"OJIN_LOCAL_SERVER_PORT": "1"})
    assert not server.url.endswith(":1")


@pytest.mark.parametrize(
    ("content", "env", "expected"),
    [
        ("[server]\nprot = 1\n", {}, "unknown key [server] prot"),
        ("[server]\nport = 'eighty'\n", {}, "[server] port must be an integer"),
        ("[server]\nport = true\n", {}, "[server] port must be an integer"),
        ("[storage]\nbackend = 'floppy'\n", {}, "[storage] backend must be one of"),
        ("[nonsense]\n", {}, "unknown key nonsense"),
        ("[[api_keys]]\nkey = 'k'\n", {}, "[api_keys[0]] organization_id is required"),
        ("server = [\n", {}, "is not valid TOML"),
        ("", {"OJIN_LOCAL_SERVER_PORT": "x"}, "OJIN_LOCAL_SERVER_PORT"),
        ("", {"OJIN_LOCAL_SERVR_PORT": "1"}, "unknown environment variable OJIN_LOCAL_SERVR_PORT"),
        (
            "[server]\nport = 0\n",
            {"OJIN_LOCAL_SERVER_PROT": "1"},
            "unknown environment variable OJIN_LOCAL_SERVER_PROT "
            "(did you mean OJIN_LOCAL_SERVER_PORT?)",
        ),
        (
            "",
            {"OJIN_LOCAL_STORAGE_S3_BUKET": "b"},
            "unknown environment variable OJIN_LOCAL_STORAGE_S3_BUKET "
            "(did you mean OJIN_LOCAL_STORAGE_S3_BUCKET?)",
        ),
        (
            "[[model_variants]]\nmodel_variant_id = 'a/b/c'\nmodel_id = 'a/b'\ntitle = 'T'\n"
            "configuration_schema = { type = 'nope' }\n",
            {},
            "configuration_schema is not a JSON Schema",
        ),
    ],
)
def test_bad_config_exits_2_with_one_line_and_starts_nothing(
    tmp_path: Path, content: str, env: dict, expected: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content)
    data_dir = tmp_path / "data"
    result = run_cli(
        "serve", "--config", str(config), "--port", "0", "--data-dir", str(data_dir), env=env
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    if "OJIN_LOCAL" in expected:
        assert str(config) not in lines[0] and "embedded defaults" not in lines[0]
    else:
        assert str(config) in lines[0]
    assert not (data_dir / "ojin-local.sqlite3").exists()


def test_an_unreadable_config_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("serve", "--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 2
    assert "cannot read config file" in result.stderr
    assert "missing.toml" in result.stderr


def test_a_bad_flag_exits_2() -> None:
    result = run_cli("serve", "--port", "99999")
    assert result.returncode == 2
    assert "--port" in result.stderr


def test_bare_command_serves(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*ojin_local_command(), "--port", "0", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env({}),
    )
    try:
        assert process.stdout is not None
        assert "serving the Ojin API" in process.stdout.readline()
    finally:
        process.terminate()
        process.wait(10)


def test_start_banner_names_url_data_dir_storage_and_dev_key(make_server, api) -> None:
    server = make_server()
    assert f"data dir:  {server.data_dir}" in server.log
    assert "storage:   filesystem" in server.log
    assert "X-API-Key: ojin-local-dev-key" in server.log
    assert "WARNING" not in server.log
    assert api(server, "ojin-local-dev-key").get("/v1/model-configs").status_code == 200


def test_dev_key_on_a_non_loopback_host_warns(make_server) -> None:
    server = make_server("--host", "0.0.0.0")
    assert "WARNING: the development key is active" in server.log
    assert server.url.startswith("http://127.0.0.1:")


def test_dev_key_is_off_when_keys_are_configured(server, api) -> None:
    assert "ojin-local-dev-key" not in server.log
    assert api(server, "ojin-local-dev-key").get("/v1/model-configs").status_code == 401


def test_keys_create_list_revoke_take_effect_on_a_running_server(make_server, api) -> None:
    server = make_server()
    data_dir = str(server.data_dir)
    dev: Api = api(server, "ojin-local-dev-key")
    assert dev.get("/v1/model-configs").status_code == 200

    created = run_cli(
        "keys", "create", "--org", "org_cli", "--user", "u_cli", "--data-dir", data_dir
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("sk-local-")
    assert "not shown again" in created.stderr

    client = api(server, key)
    made = client.create_config()
    assert made["organization_id"] == "org_cli"
    assert made["created_by"] == "u_cli"
    assert client.post("/_ojin/model-configs/x/references").status_code == 403
    assert wait_until(lambda: dev.get("/v1/model-configs").status_code == 401, timeout=3)

    listed = run_cli("keys", "list", "--data-dir", data_dir)
    assert key not in listed.stdout
    key_id = created.stderr.split()[2]
    assert key_id in listed.stdout
    assert "org_cli" in listed.stdout
    assert "active" in listed.stdout

    revoked = run_cli("keys", "revoke", key_id, "--data-dir", data_dir)
    assert revoked.returncode == 0, revoked.stderr
    assert client.get("/v1/model-configs").status_code == 401
    assert "revoked" in run_cli("keys", "list", "--data-dir", data_dir).stdout
    assert wait_until(lambda: dev.get("/v1/model-configs").status_code == 200, timeout=3)

    unknown = run_cli("keys", "revoke", "key_nope", "--data-dir", data_dir)
    assert unknown.returncode == 1
    assert "key_nope" in unknown.stderr


def test_only_the_hash_of_a_created_key_is_stored(tmp_path: Path) -> None:
    created = run_cli("keys", "create", "--org", "o", "--user", "u", "--data-dir", str(tmp_path))
    key = created.stdout.strip()
    for path in tmp_path.iterdir():
        assert key.encode() not in path.read_bytes()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_the_server_cleanly(make_server, sig: int) -> None:
    server = make_server()
    port = int(server.url.rsplit(":", 1)[1])
    started = time.monotonic()
    assert server.stop(sig) == 0
    assert time.monotonic() - started < 5
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    children = subprocess.run(
        ["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True
    )
    assert children.stdout == ""


def test_a_second_signal_during_the_drain_still_ends_in_a_clean_stop(make_server) -> None:
    """Both signals once stopped the loop, the second one in the middle of Sanic's drain of an
    open keep-alive connection, and the process ended with a RuntimeError instead of closing."""
    for _ in range(3):
        server = make_server()
        host, port = server.url.split("//")[1].split("/")[0].split(":")
        with socket.create_connection((host, int(port)), timeout=5) as connection:
            connection.sendall(b"GET /_ojin/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert connection.recv(65536).startswith(b"HTTP/1.1 200")
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.05)
            server.process.send_signal(signal.SIGINT)
            assert server.process.wait(15) == 0, "".join(server.output)
        assert "Event loop stopped" not in "".join(server.output)


def test_a_sigterm_sent_the_moment_the_url_is_printed_is_never_lost(tmp_path: Path) -> None:
    """Under uvloop, Sanic's own handler lost about 1 such signal in 15."""
    for attempt in range(20):
        process = subprocess.Popen(
            [*ojin_local_command(), "--port", "0", "--data-dir", str(tmp_path / str(attempt))],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=clean_env({}),
        )
        assert process.stdout is not None
        assert "serving the Ojin API" in process.stdout.readline()
        process.terminate()
        try:
            assert process.wait(5) == 0
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"attempt {attempt}: SIGTERM was ignored")


EXAMPLE = Path(__file__).parent.parent / "config.example.toml"


def test_config_example_loads_and_documents_every_key(tmp_path: Path) -> None:
    import dataclasses
    import re

    from ojin_local import config

    assert config.load_config(EXAMPLE, env={}) == config.load_config(None, env={})
    text = EXAMPLE.read_text()
    sections = [
        config.Config,
        config.ServerConfig,
        config.DatabaseConfig,
        config.OrganizationsConfig,
        config.StorageConfig,
        config.S3Config,
        config.JobsConfig,
        config.ApiKeyConfig,
        config.ModelVariantConfig,
    ]
    nested = {f.type for f in dataclasses.fields(config.Config)} | {"S3Config"}
    assert {s.__name__ for s in sections[1:]} >= {n for n in nested if n.endswith("Config")}
    for section in sections:
        for field in dataclasses.fields(section):
            documented = rf"^(# )?(\[+)?(model_variants\.|storage\.)?{field.name}\b"
            assert re.search(documented, text, re.M), field.name
    examples = re.findall(r"^# (\[\[\w+\]\]\n(?:# .*\n)+)", text, re.M)
    assert len(examples) == 2
    for example in examples:
        body = re.sub(r"^# ?", "", example, flags=re.M)
        path = tmp_path / "example.toml"
        path.write_text(body)
        config.load_config(path, env={})


def test_ephemeral_server_announces_itself_in_a_ready_file(tmp_path: Path) -> None:
    """What a Node or Go test runner does: start on a free port, wait for the file."""
    ready = tmp_path / "ready" / "url.txt"
    ready.parent.mkdir()
    process = subprocess.Popen(
        [*ojin_local_command(), "serve", "--ephemeral", "--port", "0", "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=clean_env({}),
    )
    try:
        assert wait_until(ready.exists, timeout=20)
        base = ready.read_text().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", base)
        health = httpx.get(base.removesuffix("/v1") + "/_ojin/health").json()
        data_dir = Path(health["database"]["path"]).parent
        assert data_dir.exists() and data_dir.name.startswith("ojin-local-")
        assert httpx.get(f"{base}/model-variants").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    assert not ready.exists()
    assert not data_dir.exists()


def test_ephemeral_and_data_dir_exclude_each_other(tmp_path: Path) -> None:
    result = run_cli("serve", "--ephemeral", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "--ephemeral and --data-dir" in result.stderr
