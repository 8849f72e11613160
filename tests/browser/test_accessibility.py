"""axe-core (npm package, injected by the test) finds no violations on any page (issue 21).

Scanned: the booking page in each step, the manage page (booking, reschedule picker, cancel confirmation),
the widget on another site (shadow DOM included) and the host's connect pages (a link that cannot be used).
"""
from __future__ import annotations

from typing import Any

import pytest

from tests.browser.helpers import DONE, SLOT, axe_violations, fill_details, future_day

pytestmark = pytest.mark.browser


def clean(page: Any, where: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{where}: {violations}"


def test_the_booking_page_has_no_axe_violations(stack, new_page):
    cal = stack.make_calendar(location="custom")
    page = new_page(bypass_csp=True)
    page.goto(stack.page_url(cal.slug))
    page.locator(SLOT).first.wait_for()
    clean(page, "pick")
    page.locator(SLOT).first.click()
    clean(page, "details")
    fill_details(page, "Ada Lovelace", "ada@example.com")
    page.get_by_role("button", name="Confirm booking").click()
    page.locator(DONE).wait_for()
    clean(page, "done")


def test_the_manage_page_has_no_axe_violations(stack, new_page):
    cal = stack.make_calendar(location="custom")
    day = future_day(2)
    start = stack.slots(cal.slug, day, day, cal.timezone)[0]["start"]
    booking = stack.call("POST", f"calendars/{cal.slug}/bookings", {
        "start": start, "name": "Ada Lovelace", "email": "ada@example.com", "timezone": "Europe/London"}).json()
    page = new_page(bypass_csp=True)
    page.goto(f"{stack.api}/manage/{booking['id']}?token={booking['manage_token']}")
    page.locator(".bb-manage[data-state='confirmed']").wait_for()
    clean(page, "booking")
    page.get_by_role("button", name="Reschedule").click()
    page.locator(".bb-manage-picker").locator(SLOT).first.wait_for()
    clean(page, "reschedule")
    page.get_by_role("button", name="Keep the current time").click()
    page.get_by_role("button", name="Cancel booking").click()
    clean(page, "cancel confirmation")


def test_the_widget_on_another_site_has_no_axe_violations_of_its_own(stack, new_page):
    cal = stack.make_calendar(location="custom")
    page = new_page(bypass_csp=True)
    page.goto(stack.site.url(calendar=cal.slug))
    page.locator(SLOT).first.wait_for()
    # the demo site around the widget is not ours: only the widget's shadow tree is judged
    violations = [v for v in axe_violations(page)
                  if any("bookbridge-widget" in n or "bb-" in n for n in v["nodes"])]
    assert violations == [], violations


def test_the_connect_pages_have_no_axe_violations(stack, new_page):
    page = new_page(bypass_csp=True)
    page.goto(f"{stack.api}/connect/not-a-real-link")  # the page a used or expired link shows
    clean(page, "connect link that cannot be used")


def test_the_scan_does_find_a_violation(stack, new_page):
    """The scanner is really running: a picture without a text alternative on the booking page is reported."""
    cal = stack.make_calendar(location="custom")
    page = new_page(bypass_csp=True)
    page.goto(stack.page_url(cal.slug))
    page.locator(SLOT).first.wait_for()
    page.evaluate("document.querySelector('main').append(Object.assign(document.createElement('img'), "
                  "{src: 'data:,'}))")
    assert "image-alt" in [v["id"] for v in axe_violations(page)]
