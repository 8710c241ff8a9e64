"""`ojin-local requests|reset|faults` against a live server of their own (fault rules and resets
are server-wide), as a developer debugging a test runs them."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ojin_local.config import DEV_KEY
from ojin_local.spec.validation import SchemaValidator
from tests.conftest import ALICE_KEY, Api, Server, clean_env, ojin_local_command, run_cli

LINE = re.compile(
    r"(?P<time>\S+Z)  (?P<method>[A-Z]+) +(?P<status>\d{3})  (?P<target>\S+)  "
    r"(?P<duration>[\d.]+) ms  (?P<org>\S+)  (?P<request_id>\S+)"
)


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """No keys configured: the development key, an admin key, is what the CLI sends."""
    running = Server(tmp_path_factory.mktemp("cli-admin") / "data", []).start()
    yield running
    running.stop()


@pytest.fixture
def cli(admin_server: Server) -> Any:
    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*ojin_local_command(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=clean_env({"OJIN_BASE_URL": admin_server.url}),
            timeout=20,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    return run


@pytest.fixture
def dev(admin_server: Server, api: Any) -> Api:
    return api(admin_server, DEV_KEY)


@pytest.fixture(scope="module")
def schema_errors() -> Any:
    validator = SchemaValidator(responses=True)
    return lambda name, body: validator.errors({"$ref": f"#/components/schemas/{name}"}, body)


def request_ids(client: Api, count: int, path: str = "/v1/model-configs") -> list[str]:
    """Make `count` requests, each with an X-Request-Id of ours, and return the ids."""
    ids = [f"cli-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    for request_id in ids:
        client.get(path, headers={"X-Request-Id": request_id})
    return ids


def test_requests_prints_the_latest_oldest_first_with_the_journal_filters(
    cli, dev: Api, schema_errors
) -> None:
    ids = request_ids(dev, 3)
    missing = request_ids(dev, 1, "/v1/assets/00000000-0000-4000-8000-000000000000")
    listed = cli("requests", "--limit", "4")
    assert listed.returncode == 0, listed.stderr
    lines = [LINE.fullmatch(line) for line in listed.stdout.splitlines()]
    assert all(lines), listed.stdout
    assert [m["request_id"] for m in lines] == [*ids, *missing]
    assert lines[0]["method"] == "GET" and lines[0]["status"] == "200"
    assert lines[0]["target"] == "/v1/model-configs" and lines[0]["org"] == "org_local"

    only_404 = cli("requests", "--status", "404", "--path", "/v1/assets/*", "--limit", "1")
    assert [LINE.fullmatch(x)["request_id"] for x in only_404.stdout.splitlines()] == missing
    as_json = cli("requests", "--json", "--limit", "2", "--method", "get")
    entries = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [e["request_id"] for e in entries] == [ids[-1], *missing]
    assert all(schema_errors("OjinJournalEntry", e) == [] for e in entries)
    out_of_range = cli("requests", "--status", "99")
    assert out_of_range.returncode == 2 and "--status" in out_of_range.stderr


def test_requests_follow_prints_new_entries_until_ctrl_c(admin_server: Server, dev: Api) -> None:
    process = subprocess.Popen(
        [*ojin_local_command(), "requests", "--follow", "--limit", "1", "--interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env({"OJIN_BASE_URL": admin_server.url}),
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None and process.stderr is not None
    reader = threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True)
    reader.start()
    try:
        before = request_ids(dev, 1)
        seen: list[str] = []
        while before[0] not in seen:  # the latest entry first, then anything newer
            seen.append(LINE.fullmatch(lines.get(timeout=10).rstrip("\n"))["request_id"])
        later = request_ids(dev, 2, "/v1/jobs")
        followed = [LINE.fullmatch(lines.get(timeout=10).rstrip("\n")) for _ in later]
        assert [m["request_id"] for m in followed] == later
        assert followed[0]["target"] == "/v1/jobs"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)
    reader.join(5)
    assert process.returncode == 0
    assert process.stderr.read() == ""
    assert lines.empty()  # nothing printed twice


def test_requests_follow_into_a_closed_pipe_ends_quietly(admin_server: Server, dev: Api) -> None:
    """As `ojin-local requests --follow | head -1` does once head has its line."""
    process = subprocess.Popen(
        [*ojin_local_command(), "requests", "--follow", "--limit", "1", "--interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env({"OJIN_BASE_URL": admin_server.url}),
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        request_ids(dev, 1)
        assert process.stdout.readline()
        process.stdout.close()
        request_ids(dev, 3)
        assert process.wait(10) == 1
    finally:
        process.kill()
    assert process.stderr.read() == ""


def test_faults_add_list_clear(cli, dev: Api, schema_errors) -> None:
    added = cli(
        "faults", "add", "--operation-id", "ojinListJobs", "--status", "503", "--message",
        "down for a bit", "--times", "1",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    rule = json.loads(added.stdout)
    assert schema_errors("OjinFaultRule", rule) == []
    assert rule["drop_connection"] is False and rule["times"] == 1
    slow = json.loads(cli("faults", "add", "--path", "/v1/assets*", "--latency-ms", "1").stdout)

    listed = cli("faults", "list")
    assert re.search(
        rf"{rule['fault_id']}\s+ojinListJobs\s+503 SERVICE_UNAVAILABLE\s+1\s+0", listed.stdout
    ), listed.stdout
    assert re.search(rf"{slow['fault_id']}\s+/v1/assets\*\s+wait 1 ms\s+always", listed.stdout)
    as_json = json.loads(cli("faults", "list", "--json").stdout)
    assert [r["fault_id"] for r in as_json["data"]] == [rule["fault_id"], slow["fault_id"]]

    injected = cli("jobs", "list")
    assert injected.returncode == 1
    assert injected.stderr.splitlines() == [
        "Error: 503 SERVICE_UNAVAILABLE: down for a bit",
        "  injected: true",
    ]
    assert cli("jobs", "list").returncode == 0  # its one time is used up, and it is gone
    left = json.loads(cli("faults", "list", "--json").stdout)["data"]
    assert [r["fault_id"] for r in left] == [slow["fault_id"]]

    dropping = json.loads(cli("faults", "add", "--method", "PUT", "--drop-connection").stdout)
    assert dropping["drop_connection"] is True
    assert "PUT" in cli("faults", "list").stdout
    assert cli("faults", "clear", dropping["fault_id"]).returncode == 0
    left = json.loads(cli("faults", "list", "--json").stdout)["data"]
    assert [r["fault_id"] for r in left] == [slow["fault_id"]]
    cleared = cli("faults", "clear")
    assert cleared.returncode == 0 and "every fault rule" in cleared.stderr
    assert json.loads(cli("faults", "list", "--json").stdout) == {"data": []}


def test_faults_add_refuses_what_the_spec_refuses(cli) -> None:
    out_of_range = cli("faults", "add", "--path", "/v1/jobs", "--status", "200")
    assert out_of_range.returncode == 2 and "400<=x<=599" in out_of_range.stderr
    no_fault = cli("faults", "add", "--path", "/v1/jobs")
    assert no_fault.returncode == 1
    assert no_fault.stderr.splitlines()[1:] == [
        "  status: The fault: status, latency_ms or drop_connection."
    ]
    assert json.loads(cli("faults", "list", "--json").stdout) == {"data": []}


def test_reset_asks_first(cli, dev: Api) -> None:
    made = dev.create_config()
    kept = cli("reset", stdin="n\n")
    assert kept.returncode == 1 and "Reset http://" in kept.stderr and kept.stdout == ""
    assert dev.get(f"/v1/model-configs/{made['model_config_id']}").status_code == 200
    confirmed = cli("reset", stdin="y\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert dev.get(f"/v1/model-configs/{made['model_config_id']}").status_code == 404
    again = dev.create_config()
    assert cli("reset", "--yes").returncode == 0
    assert dev.get(f"/v1/model-configs/{again['model_config_id']}").status_code == 404


def test_the_test_tools_need_an_admin_key(server: Server) -> None:
    refused = run_cli("faults", "list", "--url", server.url, "--api-key", ALICE_KEY)
    assert refused.returncode == 1 and "403 FORBIDDEN" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_requests_shows_one_entry_whole(cli, dev: Api, schema_errors) -> None:
    request_id = f"cli-{uuid.uuid4().hex[:12]}"
    dev.post("/v1/model-configs", json={"title": " "}, headers={"X-Request-Id": request_id})
    shown = cli("requests", request_id)
    assert shown.returncode == 0, shown.stderr
    entry = json.loads(shown.stdout)
    assert schema_errors("OjinJournalEntryDetail", entry) == []
    assert entry["request_body"]["json"] == {"title": " "}
    assert entry["response_body"]["json"]["code"] == "VALIDATION_ERROR"
    assert DEV_KEY not in shown.stdout
    unknown = cli("requests", "cli-no-such-request")
    assert unknown.returncode == 1 and "404 RESOURCE_NOT_FOUND" in unknown.stderr


def test_namespaces_create_list_scope_reset_delete(
    cli, api: Any, admin_server: Server, dev: Api, schema_errors
) -> None:
    made = cli("namespaces", "create", "--name", "cli-test")
    assert made.returncode == 0, made.stderr
    namespace = json.loads(made.stdout)
    assert schema_errors("OjinNewNamespace", namespace) == []
    namespace_id, org = namespace["namespace_id"], namespace["organization_id"]
    mine = api(admin_server, namespace["api_key"])
    other = api(admin_server, namespace["other_api_key"])
    config = mine.create_config()
    assert other.get(f"/v1/model-configs/{config['model_config_id']}").status_code == 404

    listed = cli("namespaces", "list")
    assert re.search(
        rf"{namespace_id}\s+cli-test\s+{org}\s+{namespace['other_organization_id']}", listed.stdout
    ), listed.stdout
    assert namespace["api_key"] not in listed.stdout
    assert namespace["other_api_key"] not in listed.stdout
    as_json = json.loads(cli("namespaces", "list", "--json").stdout)["data"]
    assert all(schema_errors("OjinNamespace", n) == [] for n in as_json)
    assert namespace_id in {n["namespace_id"] for n in as_json}

    journal = cli("requests", "--namespace", namespace_id).stdout.splitlines()
    assert {LINE.fullmatch(x)["org"] for x in journal} == {org, namespace["other_organization_id"]}

    assert cli("faults", "add", "--namespace", namespace_id, "--path", "/v1/*", "--status", "500",
               "--times", "1").returncode == 0  # fmt: skip
    assert dev.get("/v1/model-configs").status_code == 200  # outside the namespace
    assert mine.get("/v1/model-configs").status_code == 500

    reset = cli("namespaces", "reset", namespace_id)
    assert reset.returncode == 0 and f"reset namespace {namespace_id}" in reset.stderr
    assert mine.get(f"/v1/model-configs/{config['model_config_id']}").status_code == 404
    assert mine.get("/v1/model-configs").status_code == 200  # its keys stay

    deleted = cli("namespaces", "delete", namespace_id)
    assert deleted.returncode == 0, deleted.stderr
    assert mine.get("/v1/model-configs").status_code == 401
    assert namespace_id not in cli("namespaces", "list").stdout
    revoked = cli("assets", "list", "--api-key", namespace["api_key"])
    assert revoked.returncode == 1 and "pass another with --api-key" in revoked.stderr
    gone = cli("namespaces", "reset", namespace_id)
    assert gone.returncode == 1 and "404 RESOURCE_NOT_FOUND" in gone.stderr


def test_clock_show_advance_reset(cli, api: Any, admin_server: Server, schema_errors) -> None:
    namespace = json.loads(cli("namespaces", "create").stdout)
    namespace_id = namespace["namespace_id"]
    try:
        shown = json.loads(cli("clock", "show", "--json").stdout)
        assert schema_errors("OjinClock", shown) == [] and shown["offset_seconds"] == 0
        assert cli("clock", "show").stdout.endswith("  (real time)\n")
        ahead = cli("clock", "advance", "3600")
        assert ahead.returncode == 0, ahead.stderr
        assert ahead.stdout.endswith("  (3600 s ahead of real time)\n")
        own = cli("clock", "advance", "60", "--namespace", namespace_id, "--json")
        assert json.loads(own.stdout)["offset_seconds"] == 3660  # the server's, then its own
        before = datetime.now(UTC)
        made = api(admin_server, namespace["api_key"]).create_config()
        created = datetime.fromisoformat(made["created_at"].replace("Z", "+00:00"))
        assert timedelta(seconds=3660) <= created - before < timedelta(seconds=3670)
        back = cli("clock", "reset", "--namespace", namespace_id, "--json")
        assert json.loads(back.stdout)["offset_seconds"] == 3600
        negative = cli("clock", "advance", "--", "-5")
        assert negative.returncode == 2 and "SECONDS" in negative.stderr
        assert cli("clock", "reset").stdout.endswith("  (real time)\n")
    finally:
        cli("clock", "reset")
        cli("namespaces", "delete", namespace_id)
