"""The console's pages against a laptop server (development key active): overview, variants,
configurations through the generated form, the request journal and fault rules."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect

from ojin_local.config import DEV_KEY, DEV_ORGANIZATION, DEV_USER
from tests.conftest import Api, Server
from tests.console.conftest import Console

NAVIGATION = [
    "Overview", "Model variants", "Model configurations", "Assets", "Idle video", "Jobs",
    "Requests", "Faults", "State",
]  # fmt: skip


def test_the_development_key_is_used_without_asking(console, dev_server: Server) -> None:
    made: Console = console(dev_server)
    page = made.open()
    who = page.get_by_label("API key in use")
    expect(who).to_contain_text(DEV_ORGANIZATION)
    expect(who).to_contain_text(DEV_USER)
    expect(who).to_contain_text("admin")
    expect(page.get_by_label("API key", exact=True)).to_have_count(0)
    nav = page.get_by_role("navigation", name="Pages")
    for name in NAVIGATION:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    # Overview: health of each component, the counts, and where to point a client.
    for component in ("Database", "Storage", "Queue", "Consumer"):
        expect(page.get_by_label(component, exact=True)).to_contain_text("ok")
    expect(page.get_by_label("Storage", exact=True)).to_contain_text("filesystem")
    expect(page.get_by_role("link", name=re.compile("Configurations"))).to_contain_text(
        "3 templates"
    )
    expect(page.get_by_test_id("base-url")).to_have_text(f"{dev_server.url}/v1")
    made.shot("overview")
    # The page's own policy: this origin only (the filesystem backend's URLs lead here).
    answer = httpx.get(dev_server.url + "/")
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy
    assert "http" not in policy and DEV_KEY in answer.text


def test_each_page_has_its_url_and_back_and_forward_work(console, dev_server: Server) -> None:
    made: Console = console(dev_server)
    page = made.open("overview")
    nav = page.get_by_role("navigation", name="Pages")
    nav.get_by_role("link", name="Assets", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Assets")
    nav.get_by_role("link", name="Jobs", exact=True).click()
    expect(page).to_have_url(re.compile(r"#/jobs$"))
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Jobs")
    expect(nav.get_by_role("link", name="Jobs", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("Assets")
    page.go_forward()
    expect(page.get_by_role("heading", level=1)).to_have_text("Jobs")
    # The navigation works from the keyboard alone.
    nav.get_by_role("link", name="Overview", exact=True).focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Model variants")


def test_variants_are_listed_with_a_readable_schema(console, dev_server: Server) -> None:
    made: Console = console(dev_server)
    page = made.open("variants")
    table = page.get_by_role("table", name="Model variants")
    row = table.get_by_role("row").filter(has_text="ojin/oris-1.0/studio")
    expect(row).to_contain_text("preview")
    expect(table.get_by_role("row").filter(has_text="ojin/oris-1.0/legacy-sd")).to_contain_text(
        "deprecated"
    )
    expect(table.get_by_role("row").filter(has_text="ojin/oris-1.0/standard")).to_contain_text(
        "general-purpose"
    )
    made.shot("variants")
    table.get_by_role("link", name="Standard Quality").click()
    expect(page).to_have_url(re.compile(r"#/variants/ojin%2Foris-1\.0%2Fstandard$"))
    schema = page.get_by_role("table", name="Configuration schema")
    resolution = schema.get_by_role("row").filter(has=page.locator("code", has_text="resolution"))
    expect(resolution.first).to_contain_text("768x768")
    expect(resolution.first).to_contain_text('default "512x512"')
    expect(schema.get_by_role("row").filter(has_text="expressiveness")).to_contain_text("maximum 1")
    made.shot("variant-schema")
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Standard Quality")


def test_a_configuration_is_created_and_edited_through_the_generated_form(
    console, dev_server: Server, dev_api: Api
) -> None:
    portrait = dev_api.get("/v1/assets", params={"source": "template"}).json()["data"][0]
    made: Console = console(dev_server)
    page = made.open("configs")
    expect(page.get_by_role("link", name="Templates")).to_be_visible()
    page.get_by_role("link", name="Templates").click()
    expect(page.get_by_role("table", name="Model configurations")).to_contain_text(
        "Friendly Receptionist"
    )
    made.shot("configs-templates")
    page.get_by_role("link", name="New configuration").click()
    form = page.get_by_role("form", name="New configuration")
    form.get_by_label("Model variant").select_option("ojin/oris-1.0/standard")
    expect(page).to_have_url(re.compile(r"variant=ojin%2Foris-1\.0%2Fstandard"))
    expect(form.get_by_label("resolution")).to_have_value("0")  # the schema's default, 512x512
    form.get_by_label("Title").fill("Console demo")
    form.get_by_label("resolution").select_option(label="768x768")
    form.get_by_label("fps").select_option(label="30")
    form.get_by_label("expressiveness").fill("0.8")
    picker = form.locator('[data-field="model_configurations.image_asset_id"]')
    picker.get_by_role("combobox").select_option(label=portrait["name"])
    expect(picker.locator(".picker-thumb img")).to_have_count(1)
    form.get_by_label("type", exact=True).select_option(label="color")
    form.get_by_label("color").fill("not a colour")
    made.expect_http_errors(400)
    form.get_by_role("button", name="Create configuration").click()
    field = form.locator('[data-field="model_configurations.background.color"]')
    expect(field.locator(".field-error")).to_contain_text("does not match")
    assert dev_api.get("/v1/model-configs").json()["pagination"]["total_items"] == 0
    made.shot("config-validation-error")
    form.get_by_label("color").fill("#336699")
    form.get_by_role("button", name="Create configuration").click()
    expect(page.get_by_role("status").filter(has_text="Configuration created")).to_be_visible()
    created = dev_api.get("/v1/model-configs").json()["data"]
    assert [c["title"] for c in created] == ["Console demo"]
    assert created[0]["model_configurations"] == {
        "image_asset_id": portrait["asset_id"],
        "resolution": "768x768",
        "fps": 30,
        "background": {"type": "color", "color": "#336699"},
        "expressiveness": 0.8,
    }
    config_id = created[0]["model_config_id"]
    expect(page.get_by_text("/v1/public/model-configs/{id}")).to_be_visible()
    expect(page.locator("pre.json").last).to_contain_text('"title": "Console demo"')
    made.shot("config-detail")
    page.get_by_role("link", name="Edit").click()
    edit = page.get_by_role("form", name="Edit Console demo")
    expect(edit.get_by_label("fps")).to_have_value("1")  # 30, as stored
    edit.get_by_label("Title").fill("Console demo, edited")
    edit.get_by_label("expressiveness").fill("0.25")
    edit.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Configuration updated")).to_be_visible()
    stored = dev_api.get(f"/v1/model-configs/{config_id}").json()
    assert stored["title"] == "Console demo, edited"
    assert stored["model_configurations"]["expressiveness"] == 0.25
    assert stored["model_configurations"]["fps"] == 30

    # Delete while an agent configuration references it: 409, the references are shown.
    reference = dev_api.post(f"/_ojin/model-configs/{config_id}/references", json={}).json()
    made.expect_http_errors(409)
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("alert")).to_contain_text("CONFLICT")
    expect(page.locator(".references")).to_contain_text(reference["agent_config_id"])
    made.shot("config-delete-conflict")
    dev_api.delete(f"/_ojin/model-configs/{config_id}/references/{reference['agent_config_id']}")
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    deleted = page.get_by_role("status").filter(has_text="Deleted Console demo, edited")
    expect(deleted).to_be_visible()
    assert dev_api.get(f"/v1/model-configs/{config_id}").status_code == 404


def test_the_journal_shows_another_clients_requests_live(
    console, dev_server: Server, dev_api: Api
) -> None:
    made: Console = console(dev_server)
    page = made.open("requests")
    table = page.get_by_role("table", name="Request journal")
    expect(table).to_be_visible()
    marker = "journal-probe-from-another-client"
    assert dev_api.get("/v1/assets", params={"name": marker}).status_code == 200
    row = table.get_by_role("row").filter(has_text=marker)
    expect(row).to_contain_text("listAssets")  # appears without a reload
    expect(row).to_contain_text(DEV_ORGANIZATION)
    made.shot("requests")
    # The journal's filters: a path glob and a status.
    page.get_by_label("Path (glob)").fill("/v1/model-variants*")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"path=%2Fv1%2Fmodel-variants"))
    assert dev_api.get("/v1/model-variants").status_code == 200
    expect(table.get_by_role("row").filter(has_text="listModelVariants").first).to_be_visible()
    expect(table.get_by_role("row").filter(has_text="listAssets")).to_have_count(0)


def test_a_fault_rule_is_added_seen_to_act_and_removed(
    console, dev_server: Server, dev_api: Api
) -> None:
    made: Console = console(dev_server)
    page = made.open("faults")
    form = page.get_by_role("form", name="Add a fault rule")
    form.get_by_label("operation_id", exact=True).select_option("listModelConfigs")
    form.get_by_label("status", exact=True).fill("503")
    form.get_by_label("code", exact=True).fill("CONSOLE_SAYS_NO")
    form.get_by_label("times", exact=True).fill("1")
    form.get_by_role("button", name="Add rule").click()
    rules = page.get_by_role("table", name="Fault rules")
    expect(rules).to_contain_text("listModelConfigs")
    expect(rules).to_contain_text("answer 503 CONSOLE_SAYS_NO")
    made.shot("faults")
    # The console is a client like any other: its next listing gets the fault.
    made.expect_http_errors(503)
    nav = page.get_by_role("navigation", name="Pages")
    nav.get_by_role("link", name="Model configurations").click()
    expect(page.get_by_role("alert")).to_contain_text("CONSOLE_SAYS_NO")
    made.shot("fault-seen")
    page.go_back()
    expect(page.get_by_text("No fault rules")).to_be_visible()  # times = 1: spent, gone
    assert dev_api.get("/v1/model-configs").status_code == 200
    # A bad rule: the server's VALIDATION_ERROR shows at its field, and nothing is added.
    made.expect_http_errors(400)
    form.get_by_label("operation_id", exact=True).select_option("listAssets")
    form.get_by_label("status", exact=True).fill("200")
    form.get_by_label("times", exact=True).fill("")
    form.get_by_role("button", name="Add rule").click()
    expect(form.locator('[data-field="status"] .field-error')).to_be_visible()
    assert dev_api.get("/_ojin/faults").json()["data"] == []
    form.get_by_label("status", exact=True).fill("500")
    form.get_by_role("button", name="Add rule").click()
    expect(rules).to_contain_text("listAssets")
    rules.get_by_role("button", name=re.compile("^Remove the rule")).click()
    expect(page.get_by_text("No fault rules")).to_be_visible()
    assert dev_api.get("/_ojin/faults").json()["data"] == []
