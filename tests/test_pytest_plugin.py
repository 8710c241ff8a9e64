"""The pytest plugin (`ojin_local.testing`, registered as pytest11), run the way a user runs it:
pytest in a subprocess on a test file of their own."""

from __future__ import annotations

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


def test_state_is_reset_between_tests(ojin_local):
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


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_user=USER_TESTS)
    return pytester


def test_the_fixtures_give_a_reset_server_with_two_organizations(user_project) -> None:
    result = user_project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


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
