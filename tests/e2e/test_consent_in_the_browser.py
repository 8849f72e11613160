"""Issue 17 (and issue 21 item 2) in Chromium against the local stack with the Microsoft stand-in.

* Opening a connect link shows a "Continue to Microsoft" page and does not use the link up.
* A sign-in started in one browser context and finished in another is refused, and nothing is connected:
  the binding cookie (HttpOnly, SameSite=Lax) lives only in the context that pressed Continue.
* The same flow finished in the context that started it connects (the stand-in's form_post is a
  cross-site POST without the cookie; the callback turns it into a GET navigation that carries it).
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from devhost import demo
from devhost.smoke import Client
from tests.browser.conftest import CHROMIUM_ARGS, chromium_executable

ACCOUNT = "alice@contoso.example"


def _in_chromium(steps: Callable[[Any], None]) -> None:
    """Run ``steps(browser)`` with its own Playwright on a thread of its own: a browser test package may
    hold the sync API (and its event loop) on the main thread of this worker."""
    def run() -> None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS, headless=True)
            try:
                steps(browser)
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(run).result()


def _context(chromium: Any) -> Any:
    # the stand-in's CA is a local one: this browser trusts it as a person who accepted the warning would
    return chromium.new_context(ignore_https_errors=True)


def _continue(page: Any, url: str) -> str:
    """Open the link, check its page, press Continue; the authorize URL the browser was sent to."""
    page.goto(url)
    assert page.get_by_role("button", name="Continue to Microsoft").is_visible()
    with page.expect_request(lambda r: "/authorize" in r.url) as sent:
        page.get_by_role("button", name="Continue to Microsoft").click()
    return str(sent.value.url)


def test_a_connect_flow_finished_in_another_browser_is_refused(client: Client, new_workspace) -> None:
    ws = new_workspace("bind")
    host = ws.user("host")
    url = demo.connect_link(client.base, client.function_key, ws.id, host, "teams")
    _in_chromium(lambda chromium: _two_contexts(chromium, url))
    assert client.connection(ws.id, host, "teams")["status"] != "connected"


def _two_contexts(chromium: Any, url: str) -> None:
    first, second = _context(chromium), _context(chromium)
    try:
        opener = first.new_page()
        opener.goto(url)  # a scanner or a first look: the link stays usable
        authorize = _continue(opener, url)
        assert [c["name"] for c in first.cookies()] == ["bb_consent"]
        other = second.new_page()
        other.goto(f"{authorize}&login_hint={quote(ACCOUNT)}")
        other.wait_for_load_state("load")
        other.get_by_text("Finish in the browser you started in").wait_for(timeout=30_000)
    finally:
        first.close()
        second.close()


def test_the_same_flow_finished_in_the_browser_that_started_it_connects(client: Client, new_workspace) -> None:
    ws = new_workspace("same")
    host = ws.user("host")
    url = demo.connect_link(client.base, client.function_key, ws.id, host, "teams")
    _in_chromium(lambda chromium: _one_context(chromium, url))
    assert client.connection(ws.id, host, "teams")["status"] == "connected"


def _one_context(chromium: Any, url: str) -> None:
    context = _context(chromium)
    try:
        page = context.new_page()
        _continue(page, url)
        page.locator(f"form[data-upn='{ACCOUNT}'] button").click()  # the person picks the account
        page.get_by_text("connection is ready").wait_for(timeout=30_000)
    finally:
        context.close()
