"""Keys: a server with configured keys (so no development key) makes the console ask for one,
says when it is refused or is not an admin key, and keeps it for the browser session only."""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from ojin_local.config import DEV_KEY
from tests.conftest import ADMIN_KEY, ALICE_KEY, TEST_CONFIG, Server, configured_server
from tests.console.conftest import Console


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = configured_server(tmp_path_factory.mktemp("console-keys"), TEST_CONFIG)
    yield running
    running.stop()


def test_the_console_asks_for_a_key_and_says_when_it_is_refused(
    console, keyed_server: Server
) -> None:
    made: Console = console(keyed_server)
    page = made.open("faults")
    field = page.get_by_label("API key", exact=True)
    expect(field).to_be_focused()
    made.shot("key-prompt")
    made.expect_http_errors(401)
    field.fill("sk-not-a-key")
    page.get_by_role("button", name="Use key").click()
    expect(page.get_by_role("alert")).to_contain_text("Key refused (401)")
    assert page.evaluate("sessionStorage.length") == 0
    made.shot("key-refused")
    field.fill(ALICE_KEY)
    page.get_by_role("button", name="Use key").click()
    who = page.get_by_label("API key in use")
    expect(who).to_contain_text("org_alice")
    expect(who).to_contain_text("user_alice")
    expect(who).to_contain_text("not admin")
    # An admin page says what is wrong instead of failing.
    expect(page.get_by_role("status")).to_contain_text("This page needs an admin key")
    made.shot("not-admin")
    page.goto(f"{keyed_server.url}/#/assets")
    expect(page.get_by_role("heading", level=1)).to_have_text("Assets")
    page.reload()  # the key stays for the session
    expect(who).to_contain_text("org_alice")
    # Another key, an admin one, through "Change key".
    page.get_by_role("button", name="Change key").click()
    page.get_by_label("API key", exact=True).fill(ADMIN_KEY)
    page.get_by_role("button", name="Use key").click()
    expect(who).to_contain_text("org_ops")
    page.goto(f"{keyed_server.url}/#/state")
    expect(page.get_by_role("button", name="Reset", exact=True)).to_be_visible()
    # A new session (another context) starts without it.
    fresh = console(keyed_server).open()
    expect(fresh.get_by_label("API key", exact=True)).to_be_visible()


def test_the_page_carries_no_key_unless_the_dev_key_is_active(keyed_server: Server) -> None:
    page = httpx.get(keyed_server.url + "/").text
    assert DEV_KEY not in page and 'content=""' in page


def test_the_dev_key_is_handed_out_over_loopback_only(make_server) -> None:
    """A server on every interface, dev key active: over loopback the page carries the key,
    from the machine's own network address it does not."""
    found = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    own = next((a for a in found if ipaddress.ip_address(a).version == 4), None)
    if own is None:
        pytest.skip("this machine has no non-loopback IPv4 address to ask from")
    server = make_server("--host", "0.0.0.0")
    port = server.url.rsplit(":", 1)[1]
    assert DEV_KEY in httpx.get(f"http://127.0.0.1:{port}/").text
    assert DEV_KEY not in httpx.get(f"http://{own}:{port}/").text
