"""The embeddable widget: one <script> tag on a page of ANOTHER origin (devhost/static_server.py)."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser.helpers import DONE, SLOT, fill_details, future_day, open_date, shot, slot_button

pytestmark = pytest.mark.browser


def test_book_through_the_widget_embedded_on_another_origin(stack, new_page, screenshots):
    cal = stack.make_calendar(location="custom", name="Free intro call")
    day = future_day(2)
    slot = stack.slots(cal.slug, day, day, cal.timezone)[0]
    page = new_page()
    api_calls: list = []
    page.on("request", lambda r: "/api/calendars/" in r.url and api_calls.append(r))
    page.goto(stack.site.url(calendar=cal.slug))

    site_origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    assert site_origin == stack.site.origin != stack.base_url  # another origin: another port

    widget = page.locator("div.bookbridge-widget")
    page.locator(SLOT).first.wait_for()
    assert widget.evaluate("w => w.shadowRoot !== null")  # rendered in a shadow root
    assert page.locator(".bb-title").inner_text() == "Free intro call"
    # the site's loud styles do not reach the widget, the widget's do not reach the site
    slot_bg = page.locator(SLOT).first.evaluate("b => getComputedStyle(b).backgroundColor")
    site_bg = page.locator("#site-button").evaluate("b => getComputedStyle(b).backgroundColor")
    assert site_bg == "rgb(255, 0, 170)" and slot_bg != site_bg
    assert page.locator(SLOT).first.is_visible()  # the site's `.bb-slot {display:none}` does not apply
    shot(page, screenshots, "widget-1-pick")

    open_date(page, day)
    slot_button(page, slot["start"]).click()
    fill_details(page, "Katherine Johnson", "katherine@example.com")
    shot(page, screenshots, "widget-2-details")
    with page.expect_response(lambda r: r.url.endswith(f"/calendars/{cal.slug}/bookings")
                              and r.request.method == "POST") as info:
        page.get_by_role("button", name="Confirm booking").click()
    assert info.value.status == 201
    assert info.value.headers.get("access-control-allow-origin") == stack.site.origin
    page.locator(DONE).wait_for()
    assert page.locator(f"{DONE} a.bb-join").get_attribute("href") == cal.body["members"][0]["custom_url"]
    shot(page, screenshots, "widget-3-confirmed")

    booking_id = page.locator(".bb[data-booking-id]").get_attribute("data-booking-id")
    stored = stack.bookings_of(cal)
    assert [b["RowKey"] for b in stored] == [f"booking|{booking_id}"]
    assert stored[0]["invitee_email"] == "katherine@example.com"
    assert stored[0]["start_utc"] == slot["start"]
    # the API was called cross-origin, on the app's origin derived from the script's src
    assert api_calls and all(r.url.startswith(stack.api) and r.header_value("origin") == stack.site.origin
                             for r in api_calls)
    assert page.console_errors == []


def test_widget_says_so_when_the_site_is_not_allowed_by_cors(stack, new_page, monkeypatch):
    cal = stack.make_calendar(location="custom")
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://somewhere-else.example")  # read on every request
    page = new_page()
    page.goto(stack.site.url(calendar=cal.slug))
    alert = page.locator(".bb-alert:not([hidden])")
    alert.wait_for()
    assert "could not be reached" in alert.inner_text()
    assert page.locator(SLOT).count() == 0


def test_narrow_widget_uses_one_column(stack, new_page, screenshots):
    cal = stack.make_calendar(location="custom")
    page = new_page(width=420, height=900)
    page.goto(stack.site.url(calendar=cal.slug))
    page.locator(SLOT).first.wait_for()
    grid = page.locator("[role='grid']").bounding_box()
    slots = page.locator(".bb-slot-grid").bounding_box()
    assert slots["y"] > grid["y"] + grid["height"] - 1
    shot(page, screenshots, "widget-4-narrow")
