"""`ojin-local assets|configs|generate|jobs` against a live server, as a user runs them: what
they print (answers on stdout, checked against the spec; status on stderr), the development key
by default, and errors as one message with the server's details, never a traceback."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ojin_local.domain.portraits import portrait_png
from ojin_local.spec.validation import SchemaValidator
from tests.conftest import ALICE_KEY, Server, run_cli

MIB = 1024 * 1024
DELAYED = "[jobs]\nidle_video_delay_seconds = 60\n"


@pytest.fixture(scope="module")
def answers() -> Any:
    """Check what a command printed as a component schema of the served spec says."""
    validator = SchemaValidator(responses=True)

    def check(schema: str, printed: str) -> Any:
        body = json.loads(printed)
        errors = validator.errors({"$ref": f"#/components/schemas/{schema}"}, body)
        assert errors == [], errors
        return body

    return check


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with no keys configured (the development key works), whose jobs wait 60 s."""
    root = tmp_path_factory.mktemp("cli-dev-server")
    config = root / "delayed.toml"
    config.write_text(DELAYED)
    running = Server(root / "data", ["--config", str(config)]).start()
    yield running
    running.stop()


def no_traceback(result: Any) -> Any:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


@pytest.fixture
def remote(server: Server):
    """run_cli with OJIN_BASE_URL and OJIN_API_KEY set, as in a user's shell."""
    env = {"OJIN_BASE_URL": f"{server.url}/v1", "OJIN_API_KEY": ALICE_KEY}

    def run(*args: str):
        return run_cli(*args, env=env)

    return run


def test_upload_list_download_delete(remote, answers, tmp_path: Path) -> None:
    source = tmp_path / "weights.safetensors"
    source.write_bytes(os.urandom(6 * MIB))
    uploaded = remote("assets", "upload", str(source), "--part-size-mib", "5")
    assert uploaded.returncode == 0, uploaded.stderr
    asset = answers("Asset", uploaded.stdout)
    assert asset["size_bytes"] == 6 * MIB and asset["etag"].endswith('-2"')
    assert asset["category"] == "weight"

    listed = remote("assets", "list", "--name", "weights")
    assert listed.returncode == 0
    assert re.search(
        rf"{asset['asset_id']}\s+weights\.safetensors\s+weight\s+{6 * MIB}", listed.stdout
    )
    as_json = json.loads(remote("assets", "list", "--json", "--limit", "1").stdout)
    assert as_json["pagination"]["limit"] == 1

    target = tmp_path / "copy.bin"
    downloaded = remote("assets", "download", asset["asset_id"], "-o", str(target))
    assert downloaded.returncode == 0, downloaded.stderr
    assert target.read_bytes() == source.read_bytes()

    target.write_bytes(b"mine")
    kept = no_traceback(remote("assets", "download", asset["asset_id"], "-o", str(target)))
    assert kept.returncode == 1 and f"{target} exists (--force overwrites it)" in kept.stderr
    assert target.read_bytes() == b"mine"
    forced = remote("assets", "download", asset["asset_id"], "-o", str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    assert target.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.bin", "weights.safetensors"]
    nowhere = tmp_path / "missing" / "copy.bin"
    no_dir = no_traceback(remote("assets", "download", asset["asset_id"], "-o", str(nowhere)))
    assert no_dir.returncode == 1 and f"{nowhere.parent} is not a directory" in no_dir.stderr

    assert remote("assets", "delete", asset["asset_id"]).returncode == 0
    gone = remote("assets", "download", asset["asset_id"], "-o", str(tmp_path / "gone.bin"))
    assert gone.returncode == 1
    assert "404 RESOURCE_NOT_FOUND" in gone.stderr


def test_a_file_of_unknown_kind_needs_a_category(remote, answers, tmp_path: Path) -> None:
    source = tmp_path / "blob.bin"
    source.write_bytes(b"what is this")
    refused = no_traceback(remote("assets", "upload", str(source)))
    assert refused.returncode == 2
    assert "cannot tell what blob.bin is: pass --category" in refused.stderr
    assert "blob" not in remote("assets", "list", "--name", "blob").stdout
    uploaded = remote("assets", "upload", str(source), "--category", "audio")
    assert uploaded.returncode == 0, uploaded.stderr
    assert answers("Asset", uploaded.stdout)["category"] == "audio"


def test_configs_create_and_list(remote, answers) -> None:
    made = remote(
        "configs", "create", "--title", "From the CLI", "--variant", "ojin/oris-1.0/standard"
    )
    assert made.returncode == 0, made.stderr
    config = answers("ModelConfig", made.stdout)
    listed = remote("configs", "list", "--limit", "100")
    assert config["model_config_id"] in listed.stdout
    templates = remote("configs", "list", "--source", "template")
    assert "ojin/oris-1.0" in templates.stdout
    duplicate = remote(
        "configs", "create", "--title", "From the CLI", "--variant", "ojin/oris-1.0/standard"
    )
    assert duplicate.returncode == 1 and "409 CONFLICT" in duplicate.stderr
    bad = remote("configs", "create", "--title", "x", "--variant", "v", "--configurations", "{")
    assert bad.returncode == 2 and "not JSON" in bad.stderr


def test_generate_idle_video_and_show_the_job(remote, answers, tmp_path: Path) -> None:
    image = tmp_path / "face.png"
    image.write_bytes(portrait_png(0))
    asset = json.loads(remote("assets", "upload", str(image)).stdout)
    assert asset["category"] == "image"
    done = remote("generate", "idle-video", asset["asset_id"], "--template", "v3", "--wait")
    assert done.returncode == 0, done.stderr
    job = answers("OjinJob", done.stdout)
    assert job["status"] == "succeeded" and job["result"]["asset_id"]
    said = done.stderr.splitlines()
    assert said[0] == f"job {job['job_id']}"  # the id first, before the wait
    assert said[-1] == "  succeeded" and set(said[1:]) <= {"  queued", "  running", "  succeeded"}
    shown = answers("OjinJob", remote("jobs", "show", job["job_id"]).stdout)
    assert shown == job
    waited = remote("jobs", "wait", job["job_id"])
    assert waited.returncode == 0 and json.loads(waited.stdout) == job
    assert job["job_id"] in remote("jobs", "list", "--status", "succeeded").stdout
    queued = json.loads(remote("generate", "idle-video", asset["asset_id"]).stdout)
    assert set(queued) == {"job_id"}


def test_a_failed_job_prints_its_error(remote, answers, tmp_path: Path) -> None:
    fake = tmp_path / "not-really.png"
    fake.write_bytes(b"these bytes are no image")
    asset = json.loads(remote("assets", "upload", str(fake)).stdout)
    failed = no_traceback(remote("generate", "idle-video", asset["asset_id"], "--wait"))
    assert failed.returncode == 1
    job = answers("OjinJob", failed.stdout)
    error = job["error"]
    assert error["code"] == "INVALID_SOURCE_IMAGE"
    assert f"job {job['job_id']} failed: INVALID_SOURCE_IMAGE: {error['message']}" in failed.stderr


def test_errors_print_the_code_the_details_and_no_traceback(remote) -> None:
    bad = no_traceback(remote("configs", "create", "--title", " ", "--variant", "ojin/oris-1.0/hd"))
    assert bad.returncode == 1
    lines = bad.stderr.splitlines()
    assert lines[0] == "Error: 400 VALIDATION_ERROR: The request body is not valid."
    assert lines[1].startswith("  title: ")  # the field that failed, from details.errors
    missing = no_traceback(remote("jobs", "show", "00000000-0000-4000-8000-000000000000"))
    assert missing.returncode == 1 and "404 RESOURCE_NOT_FOUND" in missing.stderr


def test_a_refused_key_says_how_to_pass_one(server: Server) -> None:
    wrong_key = run_cli("assets", "list", "--url", f"{server.url}/v1", "--api-key", "sk-nobody")
    assert wrong_key.returncode == 1
    assert "401 UNAUTHORIZED" in no_traceback(wrong_key).stderr
    assert "pass another with --api-key or OJIN_API_KEY" in wrong_key.stderr
    assert "sk-nobody" not in wrong_key.stderr
    # This server has keys of its own, so the development key sent by default is refused.
    assumed = no_traceback(run_cli("assets", "list", "--url", server.url))
    assert assumed.returncode == 1 and "401 UNAUTHORIZED" in assumed.stderr
    assert "the development key was sent" in assumed.stderr
    assert "pass one with --api-key or OJIN_API_KEY" in assumed.stderr


def test_unreachable_and_closing_servers_are_one_line(dev_server: Server) -> None:
    unreachable = run_cli("jobs", "list", "--url", "http://127.0.0.1:9/v1", "--api-key", "k")
    assert unreachable.returncode == 1
    assert "cannot talk to http://127.0.0.1:9/v1" in no_traceback(unreachable).stderr
    with_dropped = run_cli("faults", "add", "--path", "/v1/jobs", "--drop-connection", "--url",
                           dev_server.url)  # fmt: skip
    assert with_dropped.returncode == 0, with_dropped.stderr
    try:
        dropped = no_traceback(run_cli("jobs", "list", "--url", dev_server.url))
        assert dropped.returncode == 1
        assert dropped.stderr.strip() == (
            f"Error: cannot talk to {dev_server.url}/v1: "
            "Server disconnected without sending a response."
        )
    finally:
        assert run_cli("faults", "clear", "--url", dev_server.url).returncode == 0


@pytest.mark.parametrize("shape", ["{url}", "{url}/", "{url}/v1", "{url}/v1/", "{localhost}"])
def test_the_url_with_or_without_v1_and_the_dev_key_by_default(
    dev_server: Server, shape: str
) -> None:
    localhost = dev_server.url.replace("127.0.0.1", "localhost")
    url = shape.format(url=dev_server.url, localhost=localhost)
    listed = run_cli("configs", "list", "--source", "template", "--json", "--url", url)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["pagination"]["total_items"] >= 1
    from_env = run_cli("jobs", "list", env={"OJIN_BASE_URL": url})
    assert from_env.returncode == 0, from_env.stderr


def test_state_export_to_a_missing_directory_is_one_line(
    dev_server: Server, tmp_path: Path
) -> None:
    target = tmp_path / "missing" / "state.tar.gz"
    refused = no_traceback(run_cli("state", "export", str(target), "--url", dev_server.url))
    assert refused.returncode == 1
    assert refused.stderr == f"Error: {target.parent} is not a directory\n"


def test_a_malformed_url_is_a_usage_error() -> None:
    malformed = no_traceback(run_cli("assets", "list", "--url", "http://[::1"))
    assert malformed.returncode == 2 and "Invalid value for --url" in malformed.stderr


def test_the_url_defaults_to_the_local_server() -> None:
    helped = run_cli("assets", "list", "--help")
    assert re.search(r"\[default:\s+http://127\.0\.0\.1:8080\]", helped.stdout)


def test_waiting_past_the_timeout_says_the_job_goes_on(dev_server: Server, tmp_path: Path) -> None:
    image = tmp_path / "face.png"
    image.write_bytes(portrait_png(2))
    asset = json.loads(run_cli("assets", "upload", str(image), "--url", dev_server.url).stdout)
    waited = no_traceback(
        run_cli("generate", "idle-video", asset["asset_id"], "--wait", "--timeout", "1",
                "--url", dev_server.url)
    )  # fmt: skip
    assert waited.returncode == 1 and waited.stdout == ""
    job_id = re.fullmatch(r"job (\S+)", waited.stderr.splitlines()[0])[1]
    assert waited.stderr.splitlines()[1] == "  queued"
    assert f"job {job_id} is still queued after 1 s; it goes on" in waited.stderr
    shown = json.loads(run_cli("jobs", "show", job_id, "--url", dev_server.url).stdout)
    assert shown["status"] == "queued"
