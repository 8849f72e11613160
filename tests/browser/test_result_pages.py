"""The connect flow's result pages, rendered with the shared shell and screenshotted in Chromium."""
from __future__ import annotations

import pytest

from shared.pages.templates import RESULT_PAGE_HEADERS, render_result_page
from tests.browser.helpers import shot

pytestmark = pytest.mark.browser

PAGES = {
    "connected": dict(title="Connected", message="Your Microsoft Teams connection is ready. You can close this page.",
                      ok=True),
    "personal-account": dict(title="Work or school account required",
                             message="This is a personal Microsoft account. Sign in with the work or school "
                                     "account your organisation gave you.", ok=False,
                             detail="Reference: personal_account"),
    "consent-required": dict(title="Your organisation's approval is needed",
                             message="Your Microsoft 365 organisation only lets administrators approve new apps. "
                                     "Send this link to your IT administrator; once they approve, connect again.",
                             ok=False, detail="Reference: consent_required",
                             action_url="https://login.microsoftonline.com/contoso.example/v2.0/adminconsent"
                                        "?client_id=00000000-0000-0000-0000-000000000000",
                             action_label="Open the admin-consent page"),
    "expired-link": dict(title="This link cannot be used",
                         message="This link is not valid, has expired or was already used. Ask for a new link "
                                 "and open it right away.", ok=False, detail="Reference: link_expired"),
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_result_page_renders_with_the_booking_styles(stack, new_page, screenshots, name):
    page = new_page(width=900, height=640)
    url = f"{stack.api}/__preview/result/{name}"  # served on the app's origin so /api/static loads
    html = render_result_page(**PAGES[name])
    page.route(url, lambda route: route.fulfill(status=200, body=html,
                                                headers={"Content-Type": "text/html; charset=utf-8",
                                                         **RESULT_PAGE_HEADERS}))
    page.goto(url)
    card = page.locator(".bb-result")
    card.wait_for()
    # the shared stylesheet applied (a card with a coloured top border), without CSP violations
    assert card.evaluate("c => getComputedStyle(c).borderTopWidth") == "6px"
    assert page.locator("h1").inner_text().endswith(PAGES[name]["title"])
    assert page.console_errors == []
    shot(page, screenshots, f"result-{name}")
