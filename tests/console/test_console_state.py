"""The State page on a server of its own (it replaces everything): export a snapshot, change
the state, import the snapshot back, and reset to the seed after a confirmation."""

from __future__ import annotations

import tarfile
from pathlib import Path

from playwright.sync_api import expect

from tests.conftest import Api, Server
from tests.console.conftest import Console, assets_named, png


def titles(api: Api) -> list[str]:
    return [c["title"] for c in api.get("/v1/model-configs").json()["data"]]


def test_export_import_and_reset(console, dev_server: Server, dev_api: Api, tmp_path: Path) -> None:
    dev_api.create_config(title="kept in the snapshot")
    made: Console = console(dev_server)
    page = made.open("state")
    made.shot("state")
    with page.expect_download() as downloaded:
        page.get_by_role("button", name="Export snapshot").click()
    snapshot = tmp_path / downloaded.value.suggested_filename
    downloaded.value.save_as(snapshot)
    assert snapshot.name == "ojin-local-state.tar.gz"
    with tarfile.open(snapshot) as archive:
        assert "manifest.json" in archive.getnames()
    expect(page.get_by_role("status").filter(has_text="Exported")).to_be_visible()

    dev_api.create_config(title="made after the export")
    dev_api.upload(png(), name="after-export.png")
    page.get_by_label("Snapshot file").set_input_files(str(snapshot))
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Import").click()
    expect(page.get_by_role("status").filter(has_text="Imported")).to_be_visible()
    assert titles(dev_api) == ["kept in the snapshot"]
    assert assets_named(dev_api, "after-export.png") == []
    made.shot("state-imported")

    # A file that is no snapshot: refused with the server's answer, and nothing changes.
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    made.expect_http_errors(400)
    page.get_by_label("Snapshot file").set_input_files(str(tmp_path / "junk.tar.gz"))
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Import").click()
    expect(page.get_by_role("alert")).to_contain_text("VALIDATION_ERROR")
    assert titles(dev_api) == ["kept in the snapshot"]

    # Reset asks first; cancelled, nothing happens.
    page.get_by_role("button", name="Reset", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    assert titles(dev_api) == ["kept in the snapshot"]
    page.get_by_role("button", name="Reset", exact=True).click()
    expect(page.get_by_role("dialog")).to_contain_text("Reset to the seed?")
    made.shot("state-reset-confirm")
    page.get_by_role("dialog").get_by_role("button", name="Reset").click()
    expect(page.get_by_role("status").filter(has_text="seed state")).to_be_visible()
    assert titles(dev_api) == []
    templates = dev_api.get("/v1/model-configs", params={"source": "template"}).json()
    assert templates["pagination"]["total_items"] == 3
