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
    # issue 21 (3): the embedding site's developer is told which setting to change, once, and in the console
    text = alert.inner_text()
    assert "CORS_ALLOWED_ORIGINS" in text and stack.site.origin in text and "not allowed" in text
    assert "could not be reached" not in text
    assert page.locator(".bb").inner_text().count("CORS_ALLOWED_ORIGINS") == 1
    assert page.locator(SLOT).count() == 0
    assert any("bookbridge widget" in e and "CORS_ALLOWED_ORIGINS" in e for e in page.console_errors)


def test_a_wrong_data_calendar_names_the_slug(stack, new_page):
    """Issue 21 (7): a wrong data-calendar used to show "Page not found"."""
    page = new_page()
    page.goto(stack.site.url(calendar="no-such-slug"))
    alert = page.locator(".bb-alert:not([hidden])")
    alert.wait_for()
    assert page.locator(".bb-title").inner_text() == 'No calendar with slug "no-such-slug"'
    assert 'no booking calendar with slug "no-such-slug"' in alert.inner_text()
    assert "data-calendar" in alert.inner_text()
    assert any('no calendar with slug "no-such-slug"' in e for e in page.console_errors)


FITS_JS = """
(select) => {
  const style = getComputedStyle(select);
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const text = select.options[select.selectedIndex].text;
  const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 18;
  return {text, width: ctx.measureText(text).width, room, right: select.getBoundingClientRect().right};
}
"""


def test_widget_at_390_px_shows_the_whole_time_zone(stack, new_page, screenshots):
    """Issue 21 (9): at 390 px a long zone's name was cut off."""
    cal = stack.make_calendar(location="custom")
    page = new_page(width=390, height=844, is_mobile=True, has_touch=True,
                    timezone_id="America/Argentina/Buenos_Aires")
    page.goto(stack.site.url(calendar=cal.slug))
    page.locator(SLOT).first.wait_for()
    fit = page.locator("select.bb-select").evaluate(FITS_JS)
    assert fit["text"] == "Buenos Aires, Argentina (GMT-03:00)"  # in the "America" group
    assert fit["width"] <= fit["room"], fit
    assert fit["right"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, screenshots, "widget-5-390px")


def test_time_zones_use_current_names_and_can_be_searched(stack, new_page, screenshots):
    """Issue 21 (9): the list showed Asia/Calcutta and Europe/Kiev and could not be searched."""
    cal = stack.make_calendar(location="custom")
    page = new_page(timezone_id="Asia/Calcutta")
    page.goto(stack.site.url(calendar=cal.slug))
    page.locator(SLOT).first.wait_for()
    select = page.locator("select.bb-select")
    assert select.input_value() == "Asia/Kolkata"  # the browser reports the old name
    values = select.evaluate("s => [...s.options].map(o => o.value)")
    assert "Europe/Kyiv" in values and "Asia/Kolkata" in values
    assert not {"Europe/Kiev", "Asia/Calcutta", "Asia/Saigon"} & set(values)
    page.get_by_label("Find a city or offset").fill("kyiv")
    values = select.evaluate("s => [...s.options].map(o => o.value)")
    assert values == ["Asia/Kolkata", "Europe/Kyiv"]  # the current zone stays listed, then the matches
    page.get_by_label("Find a city or offset").fill("GMT+05:45")
    assert "Asia/Kathmandu" in select.evaluate("s => [...s.options].map(o => o.value)")
    shot(page, screenshots, "widget-6-timezone-search")
    with page.expect_response(lambda r: "/slots?" in r.url and "Europe%2FKyiv" in r.url) as info:
        page.get_by_label("Find a city or offset").fill("kyiv")
        select.select_option("Europe/Kyiv")
    assert info.value.status == 200  # the API accepts the current name
    page.locator(".bb-day-note", has_text="Times in Europe/Kyiv").wait_for()


def test_narrow_widget_uses_one_column(stack, new_page, screenshots):
    cal = stack.make_calendar(location="custom")
    page = new_page(width=420, height=900)
    page.goto(stack.site.url(calendar=cal.slug))
    page.locator(SLOT).first.wait_for()
    grid = page.locator("[role='grid']").bounding_box()
    slots = page.locator(".bb-slot-grid").bounding_box()
    assert slots["y"] > grid["y"] + grid["height"] - 1
    shot(page, screenshots, "widget-4-narrow")
