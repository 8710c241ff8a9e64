"""`ojin-local assets|configs|generate|jobs` against a live server, as a user runs them."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from ojin_local.domain.portraits import portrait_png
from tests.conftest import ALICE_KEY, Server, run_cli

MIB = 1024 * 1024


@pytest.fixture
def remote(server: Server):
    """run_cli with OJIN_BASE_URL and OJIN_API_KEY set, as in a user's shell."""
    env = {"OJIN_BASE_URL": f"{server.url}/v1", "OJIN_API_KEY": ALICE_KEY}

    def run(*args: str):
        return run_cli(*args, env=env)

    return run


def test_upload_list_download_delete(remote, tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(6 * MIB))
    uploaded = remote("assets", "upload", str(source), "--part-size-mib", "5")
    assert uploaded.returncode == 0, uploaded.stderr
    asset = json.loads(uploaded.stdout)
    assert asset["size_bytes"] == 6 * MIB and asset["etag"].endswith('-2"')
    assert asset["category"] == "weight"

    listed = remote("assets", "list", "--name", "weights")
    assert listed.returncode == 0
    assert re.search(rf"{asset['asset_id']}\s+weights\.bin\s+weight\s+{6 * MIB}", listed.stdout)
    as_json = json.loads(remote("assets", "list", "--json", "--limit", "1").stdout)
    assert as_json["pagination"]["limit"] == 1

    target = tmp_path / "copy.bin"
    downloaded = remote("assets", "download", asset["asset_id"], "-o", str(target))
    assert downloaded.returncode == 0, downloaded.stderr
    assert target.read_bytes() == source.read_bytes()

    assert remote("assets", "delete", asset["asset_id"]).returncode == 0
    gone = remote("assets", "download", asset["asset_id"], "-o", str(target))
    assert gone.returncode == 1
    assert "404 RESOURCE_NOT_FOUND" in gone.stderr


def test_configs_create_and_list(remote) -> None:
    made = remote(
        "configs", "create", "--title", "From the CLI", "--variant", "ojin/oris-1.0/standard"
    )
    assert made.returncode == 0, made.stderr
    config = json.loads(made.stdout)
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


def test_generate_idle_video_and_show_the_job(remote, tmp_path: Path) -> None:
    image = tmp_path / "face.png"
    image.write_bytes(portrait_png(0))
    asset = json.loads(remote("assets", "upload", str(image)).stdout)
    assert asset["category"] == "image"
    done = remote("generate", "idle-video", asset["asset_id"], "--template", "v3", "--wait")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["status"] == "succeeded" and job["result"]["asset_id"]
    shown = json.loads(remote("jobs", "show", job["job_id"]).stdout)
    assert shown == job
    assert job["job_id"] in remote("jobs", "list", "--status", "succeeded").stdout
    queued = json.loads(remote("generate", "idle-video", asset["asset_id"]).stdout)
    assert set(queued) == {"job_id"}


def test_errors_print_the_code_and_exit_non_zero(server: Server) -> None:
    wrong_key = run_cli("assets", "list", "--url", f"{server.url}/v1", "--api-key", "sk-nobody")
    assert wrong_key.returncode == 1
    assert "401 UNAUTHORIZED" in wrong_key.stderr
    unreachable = run_cli("jobs", "list", "--url", "http://127.0.0.1:9/v1", "--api-key", "k")
    assert unreachable.returncode == 1
    assert "cannot talk to http://127.0.0.1:9/v1" in unreachable.stderr
