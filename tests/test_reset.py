"""POST /_ojin/reset: back to the seed state, completely, as a test suite needs between tests."""

from __future__ import annotations

import time

import httpx
import pytest

from ojin_local.domain.portraits import portrait_png
from tests.conftest import GENERATE, TEST_CONFIG

pytestmark = pytest.mark.every_database(shared_in_test_all=True)

DEV_KEY = "ojin-local-dev-key"


def without_times(items: list[dict]) -> list[dict]:
    """Reloaded seed records are the same records, made again."""
    return [{k: v for k, v in item.items() if not k.endswith("_at")} for item in items]


def test_reset_removes_everything_the_api_made_and_reloads_the_seed(
    make_server, api, tmp_path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(TEST_CONFIG + "\n[jobs]\nidle_video_delay_seconds = 2\n")
    server = make_server("--config", str(config))
    admin = api(server, "sk-test-admin")
    alice = api(server, "sk-test-alice")
    seeded_configs = alice.get("/v1/model-configs", params={"source": "template"}).json()
    seeded_assets = alice.get("/v1/assets", params={"source": "template"}).json()

    made = alice.create_config(title="Mine")
    asset = alice.upload(portrait_png(0), "mine.png")
    job = alice.post(GENERATE, json={"source_asset_id": asset["asset_id"]}).json()
    open_upload = alice.start_upload()
    alice.put_parts(open_upload, [b"half-way"])
    portrait = seeded_assets["data"][0]
    curator = api(server, "sk-test-template")  # the template organization's own key
    assert curator.delete(f"/v1/assets/{portrait['asset_id']}").status_code == 204
    admin.post("/_ojin/faults", json={"operation_id": "listAssets", "status": 503})
    objects = server.data_dir / "storage" / "objects" / "assets"

    assert admin.post("/_ojin/reset").status_code == 204
    assert admin.get("/_ojin/requests").json()["data"] == []
    assert admin.get("/_ojin/faults").json()["data"] == []

    assert alice.get(f"/v1/model-configs/{made['model_config_id']}").status_code == 404
    assert alice.get("/v1/model-configs").json()["pagination"]["total_items"] == 0
    again = alice.get("/v1/model-configs", params={"source": "template"}).json()
    assert without_times(again["data"]) == without_times(seeded_configs["data"])
    assert alice.get("/v1/assets").json()["data"] == []  # and the fault rule is gone
    templates = alice.get("/v1/assets", params={"source": "template"}).json()
    assert without_times(templates["data"]) == without_times(seeded_assets["data"])
    url = alice.get(f"/v1/assets/{portrait['asset_id']}/download").json()["asset_url"]
    assert httpx.get(url).content.startswith(b"\x89PNG")
    assert sorted(p.name for p in objects.iterdir()) == sorted(
        a["asset_id"] for a in templates["data"]
    )
    assert alice.get(f"/v1/jobs/{job['job_id']}").status_code == 404
    signed = {
        "asset_id": open_upload["asset_id"],
        "upload_id": open_upload["upload_id"],
        "part_number": 1,
    }
    assert alice.post("/v1/assets/sign-part", json=signed).status_code == 404
    assert not any((server.data_dir / "storage" / "uploads").iterdir())
    assert admin.get("/_ojin/health").json()["jobs"]["queue_depth"] == 0
    time.sleep(2.5)  # the delayed job would have run by now
    assert alice.get("/v1/assets").json()["data"] == []
    assert alice.get("/v1/jobs").json()["data"] == []
