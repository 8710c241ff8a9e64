"""`ojin-local replay`: a session recorded through the proxy, replayed against other servers."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    ADMIN_KEY,
    ALICE_KEY,
    Api,
    clean_env,
    configured_server,
    ojin_local_command,
)
from tests.contract import Contract
from tests.proxy.conftest import RECORDING_CONFIG, UPSTREAM_CONFIG, Proxy, Session, run_session
from tests.proxy.conftest import upstream_config as target_config


@pytest.fixture(scope="module")
def recording(
    tmp_path_factory: pytest.TempPathFactory, contract: Contract
) -> Iterator[tuple[Path, Session]]:
    """A whole session recorded through the proxy in front of one ojin-local."""
    root = tmp_path_factory.mktemp("recorded")
    upstream = configured_server(root, RECORDING_CONFIG)
    proxy = Proxy(upstream.url + "/v1", "--record", str(root / "session.har"))
    try:
        with Api(proxy.url, contract, ALICE_KEY) as api, httpx.Client(timeout=60) as http:
            session = run_session(api, http)
    finally:
        proxy.stop()
        upstream.stop()
    yield root / "session.har", session


def replay(recording: Path, url: str, *args: str) -> tuple[int, str, str]:
    env = clean_env({})
    env.pop("OJIN_API_KEY", None)
    finished = subprocess.run(
        [*ojin_local_command(), "replay", str(recording), "--against", f"{url}/v1", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    return finished.returncode, finished.stdout, finished.stderr


def entries(recording: Path) -> list[dict[str, Any]]:
    return json.loads(recording.read_text())["log"]["entries"]


def index_of(recording: Path, method: str, ending: str, nth: int = 0) -> int:
    """The 1-based number of the nth recorded exchange with this method and URL ending."""
    found = [
        number
        for number, entry in enumerate(entries(recording), start=1)
        if entry["request"]["method"] == method and entry["request"]["url"].endswith(ending)
    ]
    return found[nth]


@pytest.mark.parametrize("backend", ["filesystem", "s3"])
def test_a_recording_replays_against_a_fresh_server_with_no_difference(
    recording: tuple[Path, Session], backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    har, session = recording
    moto = request.getfixturevalue("moto") if backend == "s3" else None
    target = configured_server(tmp_path, target_config(backend, moto, "ojin-replay-target"))
    try:
        code, out, err = replay(har, target.url, "--api-key", ALICE_KEY, "--json")
    finally:
        target.stop()
    report = json.loads(out)
    assert (report["differences"], report["skipped"]) == ([], []), err
    assert report["exchanges"] == report["replayed"] == session.requests
    assert code == 0


def test_a_differently_configured_target_shows_exactly_its_differences(
    recording: tuple[Path, Session], tmp_path: Path, contract: Contract
) -> None:
    """Another variant catalog (no acme/echo-1.0/basic) and a fault rule on the creation of
    configurations: those two exchanges differ, and what needed the configuration is skipped."""
    har, _ = recording
    config = UPSTREAM_CONFIG.replace("acme/echo-1.0", "acme/other-1.0")
    target = configured_server(tmp_path, config)
    try:
        with Api(target.url, contract, ADMIN_KEY) as admin:
            rule = {"operation_id": "createModelConfig", "status": 503, "times": 2}  # two runs
            assert admin.post("/_ojin/faults", json=rule).status_code == 201
        code, out, _ = replay(har, target.url, "--api-key", ALICE_KEY, "--json")
        text_code, text, _ = replay(har, target.url, "--api-key", ALICE_KEY)
    finally:
        target.stop()
    report = json.loads(out)
    variant = index_of(har, "GET", "/v1/model-variants/acme/echo-1.0/basic")
    created = index_of(har, "POST", "/v1/model-configs")
    assert [(d["exchange"], d["what"], d["recorded"], d["replayed"])
            for d in report["differences"]] == [
        (variant, "status", "200", "404"),
        (created, "status", "201", "503"),
    ]  # fmt: skip
    config_id = json.loads(entries(har)[created - 1]["response"]["content"]["text"])[
        "model_config_id"
    ]
    needing = [
        number
        for number, entry in enumerate(entries(har), start=1)
        if config_id in entry["request"]["url"]
    ]
    assert len(needing) == 4  # read, update, delete, read again (404)
    assert [(s["exchange"], s["depends_on"]) for s in report["skipped"]] == [
        (number, created) for number in needing
    ]
    assert all(config_id in s["reason"] for s in report["skipped"])
    assert report["differing_exchanges"] == 2
    assert code == 1 and text_code == 1
    assert f"#{created} POST /model-configs (createModelConfig): status: recorded 201" in text
    assert "2 differ, 4 skipped" in text


def test_a_recording_that_sent_a_key_needs_one(
    recording: tuple[Path, Session], tmp_path: Path
) -> None:
    har, _ = recording
    code, _, err = replay(har, "http://127.0.0.1:9")
    assert code == 2
    assert "--api-key" in err
