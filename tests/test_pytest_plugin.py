"""The pytest plugin (`ojin_local.testing`, registered as pytest11), run the way a user runs it:
pytest in a subprocess on a test file of their own, serially and under pytest-xdist."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

USER_TESTS = """
import pytest
from ojin_local.client import OjinApiError


def test_a_users_upload(ojin_local, tmp_path):
    image = tmp_path / "avatar.bin"
    image.write_bytes(b"x" * 1000)
    asset = ojin_local.client.upload_file(image, "weight")
    assert ojin_local.client.list_assets()["pagination"]["total_items"] == 1
    with pytest.raises(OjinApiError) as hidden:
        ojin_local.other_client.get_asset(asset["asset_id"])
    assert hidden.value.status == 404
    ojin_local.client.create_model_config("left behind", "ojin/oris-1.0/standard")


def test_each_test_starts_empty(ojin_local):
    assert ojin_local.client.list_assets()["data"] == []
    assert ojin_local.client.list_model_configs()["data"] == []
    assert ojin_local.client.list_assets(source="template")["pagination"]["total_items"] == 3
    assert ojin_local.url.endswith("/v1")


def test_what_the_options_set(ojin_local, request):
    health = ojin_local.client.health()
    assert health["storage"]["backend"] == request.config.getoption("ojin_storage")
    variant = request.config.getoption("ojin_config") and "acme/echo-1.0/basic"
    if variant:
        assert ojin_local.client.get_model_variant(variant)["title"] == "Echo"
"""

TIME_AND_FAULTS = """
import httpx
import pytest
from ojin_local.client import OjinApiError


def test_advance_clock_expires_this_tests_urls(ojin_local):
    session = ojin_local.client.initiate_upload("clip.png", "image")
    signed = ojin_local.client.sign_part(session["asset_id"], session["upload_id"], 1)
    assert httpx.put(signed["upload_url"], content=b"in time").status_code == 200
    ojin_local.advance_clock(3601)
    late = httpx.put(signed["upload_url"], content=b"too late")
    assert late.status_code == 403 and "Request has expired" in late.text


def test_add_fault_and_requests_see_only_this_test(ojin_local):
    ojin_local.add_fault(operation_id="listAssets", status=503)
    with pytest.raises(OjinApiError) as failed:
        ojin_local.client.list_assets()
    assert failed.value.status == 503
    assert ojin_local.client.list_model_configs()["data"] == []
    seen = [(r["operation_id"], r["status"]) for r in ojin_local.requests()]
    assert seen == [("listModelConfigs", 200), ("listAssets", 503)]


def test_the_next_test_has_no_fault_and_real_time(ojin_local):
    assert ojin_local.client.list_assets()["data"] == []
    assert [(r["operation_id"], r["status"]) for r in ojin_local.requests()] == [
        ("listAssets", 200)
    ]
    assert ojin_local.admin.get_clock(ojin_local.namespace_id)["offset_seconds"] == 0
"""

WHERE_EACH_TEST_RAN = """
import json, os


def record(ojin_local):
    line = {
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
        "url": ojin_local.url,
        "data_dir": str(ojin_local.data_dir),
        "namespace": ojin_local.namespace_id,
    }
    with open(os.environ["OJIN_TEST_RECORD"], "a") as out:
        out.write(json.dumps(line) + "\\n")
    ojin_local.client.create_model_config("mine", "ojin/oris-1.0/standard")
    assert ojin_local.client.list_model_configs()["pagination"]["total_items"] == 1

"""


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_user=USER_TESTS)
    return pytester


def test_each_test_gets_a_namespace_of_its_own(user_project) -> None:
    result = user_project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_the_clock_faults_and_journal_helpers_are_scoped_to_the_test(pytester) -> None:
    pytester.makepyfile(test_time=TIME_AND_FAULTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_reset_isolation_resets_the_whole_server(user_project) -> None:
    user_project.makepyfile(
        test_admin="""
def test_the_keys_are_an_admin_and_another_organization(ojin_local):
    assert ojin_local.namespace_id is None
    ojin_local.client.add_fault(operation_id="listJobs", status=500, times=1)
    assert ojin_local.client.list_faults()
"""
    )
    result = user_project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--ojin-isolation", "reset"
    )
    result.assert_outcomes(passed=4)


@pytest.mark.parametrize(("isolation", "servers"), [("namespace", 1), ("reset", 2)])
def test_workers_share_one_server_and_leave_nothing_behind(
    pytester, tmp_path: Path, monkeypatch, isolation: str, servers: int
) -> None:
    """One server for both workers, a namespace per test; with reset isolation, a server per
    worker (one worker's reset would wipe out the other's test)."""
    record = tmp_path / "record.jsonl"
    pytester.makepyfile(
        test_many=WHERE_EACH_TEST_RAN
        + "".join(f"def test_{n}(ojin_local):\n    record(ojin_local)\n\n\n" for n in range(8))
    )
    monkeypatch.setenv("OJIN_TEST_RECORD", str(record))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--ojin-isolation", isolation
    )  # fmt: skip
    result.assert_outcomes(passed=8)
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(lines) == 8
    assert {line["worker"] for line in lines} == {"gw0", "gw1"}
    assert len({line["url"] for line in lines}) == servers
    if isolation == "namespace":
        assert len({line["namespace"] for line in lines}) == 8  # a namespace per test
    for line in lines:
        assert not Path(line["data_dir"]).exists()  # the run's folders are gone
        url = httpx.URL(line["url"])
        with pytest.raises(ConnectionRefusedError):  # and the servers with them
            socket.create_connection((url.host, url.port), timeout=2)


def test_s3_storage_without_moto_says_what_to_install(user_project) -> None:
    user_project.makeconftest('import sys\nsys.modules["moto"] = None  # as if not installed\n')
    result = user_project.runpytest_subprocess("-p", "no:cacheprovider", "--ojin-storage", "s3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--ojin-storage s3 runs moto's S3 server: pip install 'ojin-local[testing-s3]'" in (
        result.stderr.str()
    )


def test_options_choose_s3_storage_and_merge_a_config_file(user_project) -> None:
    extra = user_project.path / "extra.toml"
    extra.write_text(
        '[[model_variants]]\nmodel_variant_id = "acme/echo-1.0/basic"\n'
        'model_id = "acme/echo-1.0"\ntitle = "Echo"\n'
    )
    result = user_project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--ojin-storage", "s3", "--ojin-jobs-delay", "1",
        "--ojin-config", str(extra),
    )  # fmt: skip
    result.assert_outcomes(passed=3)
