"""Assets from the browser: uploads by file chooser and by drop through the real multipart
flow (checked through the API byte for byte), a multi-part upload, hostile names shown as text,
an idle video generated and playing, a failed job, and the jobs list."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from playwright.sync_api import expect

from tests.conftest import Api, Server, loaded_width
from tests.console.conftest import Console, assets_named, png, stored_bytes

HOSTILE = "<img src=x onerror=alert(1)>.png"


def upload_by_chooser(page, name: str, data: bytes, mime: str) -> None:
    with page.expect_file_chooser() as chosen:
        page.get_by_role("button", name="Upload", exact=True).click()
    chosen.value.set_files({"name": name, "mimeType": mime, "buffer": data})


def test_an_image_uploaded_by_file_chooser_and_by_drop_keeps_its_bytes(
    console, dev_server: Server, dev_api: Api
) -> None:
    made: Console = console(dev_server)
    page = made.open("assets")
    chosen_bytes, dropped_bytes = png(colour=(20, 90, 200)), png((40, 40), (230, 30, 90))
    upload_by_chooser(page, "chosen.png", chosen_bytes, "image/png")
    uploads = page.get_by_role("list", name="Uploads")
    expect(uploads.locator("li", has_text="chosen.png")).to_contain_text("Uploaded")
    page.evaluate("window.scrollTo(0, 0)")
    transfer = page.evaluate_handle(
        """([name, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: "image/png" }));
            return transfer;
        }""",
        ["dropped.png", list(dropped_bytes)],
    )
    target = page.locator(".drop-target")
    target.dispatch_event("dragenter", {"dataTransfer": transfer})
    expect(page.locator(".drop-overlay")).to_be_visible()
    target.dispatch_event("drop", {"dataTransfer": transfer})
    expect(uploads.locator("li", has_text="dropped.png")).to_contain_text("Uploaded")
    for name, data in (("chosen.png", chosen_bytes), ("dropped.png", dropped_bytes)):
        [asset] = assets_named(dev_api, name)
        assert asset["category"] == "image" and asset["content_type"] == "image/png"
        assert stored_bytes(dev_api, asset["asset_id"]) == data
        card = page.get_by_role("article", name=name)
        assert loaded_width(card.locator("img")) == (64 if name == "chosen.png" else 40)
    expect(page.get_by_role("progressbar", name="Upload of chosen.png")).to_have_attribute(
        "aria-valuenow", "100"
    )
    made.shot("assets")
    # Filters: name and category, each in the URL.
    page.get_by_label("Name", exact=True).fill("drop")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"name=drop"))
    expect(page.get_by_role("article")).to_have_count(1)
    page.get_by_label("Category", exact=True).last.select_option("video")
    expect(page.get_by_text("No assets match.")).to_be_visible()
    page.goto(f"{dev_server.url}/#/assets?source=template")
    expect(page.get_by_role("article")).to_have_count(3)
    expect(page.get_by_role("article").first.get_by_role("button", name="Delete")).to_have_count(0)
    # Download, then delete (with a confirmation).
    page.goto(f"{dev_server.url}/#/assets?name=chosen")
    card = page.get_by_role("article", name="chosen.png")
    with page.expect_download() as downloaded:
        card.get_by_role("button", name="Download chosen.png").click()
    assert downloaded.value.suggested_filename == "chosen.png"
    assert Path(downloaded.value.path()).read_bytes() == chosen_bytes
    card.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No assets match.")).to_be_visible()
    assert assets_named(dev_api, "chosen.png") == []


def test_a_file_over_5_mib_goes_up_in_parallel_parts(
    console, dev_server: Server, dev_api: Api
) -> None:
    made: Console = console(dev_server)
    page = made.open("assets")
    data = os.urandom(17 * 1024 * 1024 + 123)  # three parts of 8 MiB
    upload_by_chooser(page, "weights.bin", data, "application/octet-stream")
    item = page.get_by_role("list", name="Uploads").locator("li", has_text="weights.bin")
    expect(item).to_contain_text("Uploaded", timeout=60_000)
    [asset] = assets_named(dev_api, "weights.bin")
    assert asset["category"] == "weight" and asset["size_bytes"] == len(data)
    assert asset["etag"].endswith('-3"')  # S3's multipart ETag: three parts
    assert hashlib.sha256(stored_bytes(dev_api, asset["asset_id"])).digest() == (
        hashlib.sha256(data).digest()
    )


def test_a_hostile_asset_name_is_shown_as_text(console, dev_server: Server, dev_api: Api) -> None:
    dev_api.upload(png(), name=HOSTILE)
    made: Console = console(dev_server)
    page = made.open("assets?name=onerror")
    card = page.get_by_role("article", name=HOSTILE)
    expect(card.get_by_role("heading")).to_have_text(HOSTILE)
    assert page.locator('img[src="x"]').count() == 0
    page.goto(f"{dev_server.url}/#/idle-video")
    expect(page.get_by_label("Source image")).to_contain_text(HOSTILE)
    page.goto(f"{dev_server.url}/#/requests?path=/v1/assets*")
    expect(page.get_by_role("table", name="Request journal")).to_be_visible()
    assert page.locator('img[src="x"]').count() == 0
    made.shot("hostile-name")
    # made.check() (after the test) finds no dialog: alert(1) never ran.


def test_an_idle_video_is_generated_and_plays_and_a_failure_is_shown(
    console, dev_server: Server, dev_api: Api
) -> None:
    source = dev_api.upload(png((96, 96), (180, 150, 120)), name="face.png")
    made: Console = console(dev_server)
    page = made.open("idle-video")
    page.get_by_label("Source image").select_option(label="face.png")
    page.get_by_label("v2").check()
    made.shot("idle-video-form")
    page.get_by_role("button", name="Generate idle video").click()
    status = page.get_by_test_id("job-status")
    expect(status).to_have_text("queued")  # held back a second by idle_video_delay_seconds
    expect(status).to_have_text("succeeded", timeout=30_000)
    video = page.locator(".result video")
    page.wait_for_function("v => v.readyState >= 2", arg=video.element_handle(), timeout=20_000)
    assert video.evaluate("v => v.videoWidth") == 96
    made.shot("idle-video-played")
    [job] = dev_api.get("/v1/jobs", params={"status": "succeeded"}).json()["data"]
    assert job["parameters"] == {"source_asset_id": source["asset_id"], "reference_template": "v2"}
    expect(page).to_have_url(re.compile(f"job={job['job_id']}"))
    page.reload()
    expect(page.get_by_test_id("job-status")).to_have_text("succeeded")

    # A source that is no image: the job fails, and its code and message are shown.
    dev_api.upload(b"these bytes are no picture", name="broken.png")
    page.reload()
    page.get_by_label("Source image").select_option(label="broken.png")
    page.get_by_role("button", name="Generate idle video").click()
    expect(page.get_by_test_id("job-status")).to_have_text("failed", timeout=30_000)
    expect(page.locator(".job-error-code")).to_have_text("INVALID_SOURCE_IMAGE")
    expect(page.locator(".job-error-message")).not_to_be_empty()
    made.shot("idle-video-failed")

    # The jobs list: both, with filters; a job's detail.
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Jobs").click()
    jobs = page.get_by_role("table", name="Jobs")
    expect(jobs.get_by_role("row")).to_have_count(3)
    expect(jobs).to_contain_text("INVALID_SOURCE_IMAGE")
    made.shot("jobs")
    page.get_by_label("Status").select_option("failed")
    expect(jobs.get_by_role("row")).to_have_count(2)
    jobs.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Job")
    expect(page.get_by_test_id("job-status")).to_have_text("failed")
    expect(page.locator("pre.json").last).to_contain_text("INVALID_SOURCE_IMAGE")
    made.shot("job-detail")
