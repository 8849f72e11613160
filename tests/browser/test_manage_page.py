"""The invitee's manage page (GET /api/manage/{id}?token=, SPEC rule 30) in headless Chromium (issue 21, point 1)."""
from __future__ import annotations

from typing import Any

import pytest

from tests.browser.helpers import ALERT, SLOT, active_element, future_day, open_date, shot, slot_button

pytestmark = pytest.mark.browser

CARD = ".bb-manage"
PICKER = ".bb-manage-picker"


def book(stack: Any, cal: Any, start: str, notes: str | None = None) -> dict[str, Any]:
    body = {"start": start, "name": "Ada Lovelace", "email": "ada@example.com", "timezone": "Europe/London"}
    if notes:
        body["notes"] = notes
    res = stack.call("POST", f"calendars/{cal.slug}/bookings", body)
    assert res.status_code == 201, res.text
    return dict(res.json())


def manage_url(stack: Any, booking: dict[str, Any]) -> str:
    return f"{stack.api}/manage/{booking['id']}?token={booking['manage_token']}"


def stored(stack: Any, cal: Any, booking_id: str) -> dict[str, Any]:
    return dict(stack.store.get("schedule", f"{cal.workspace}|{cal.users[0]}", f"booking|{booking_id}"))


def test_see_reschedule_and_cancel_on_the_manage_page(stack, new_page, screenshots):
    cal = stack.make_calendar(location="custom")
    first_day, other_day = future_day(2), future_day(3)
    slot = stack.slots(cal.slug, first_day, first_day, cal.timezone)[0]
    target = stack.slots(cal.slug, other_day, other_day, cal.timezone)[2]
    booking = book(stack, cal, slot["start"], notes="Line one\nLine two")
    page = new_page()
    response = page.goto(manage_url(stack, booking))
    assert response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"  # the token never leaves as a referrer
    assert "script-src 'self'" in response.headers["content-security-policy"]

    card = page.locator(f"{CARD}[data-state='confirmed']")
    card.wait_for()
    assert page.locator("h1").inner_text() == "Intro call"
    assert "Dana Whitfield" in card.inner_text() and "Confirmed" in card.inner_text()
    notes = card.locator(".bb-notes")
    assert notes.inner_text() == "Line one\nLine two"  # the notes keep their line breaks
    assert card.locator("a.bb-join").get_attribute("href") == cal.body["members"][0]["custom_url"]
    shot(page, screenshots, "manage-1-booking")

    page.get_by_role("button", name="Reschedule").click()
    picker = page.locator(PICKER)
    picker.locator(SLOT).first.wait_for()
    open_date(picker, other_day)
    slot_button(picker, target["start"]).click()
    page.get_by_role("heading", name="Move your booking?").wait_for()
    shot(page, screenshots, "manage-2-confirm-move")
    page.get_by_role("button", name="Confirm new time").click()
    alert = page.locator(ALERT)
    alert.wait_for()
    assert "has been moved" in alert.inner_text()
    assert page.locator(PICKER).is_hidden()
    row = stored(stack, cal, booking["id"])
    assert row["start_utc"] == target["start"] and row["revision"] == 2 and row["status"] == "confirmed"
    shot(page, screenshots, "manage-3-moved")

    page.get_by_role("button", name="Cancel booking").click()
    page.get_by_role("heading", name="Cancel this booking?").wait_for()
    assert stored(stack, cal, booking["id"])["status"] == "confirmed"  # nothing happens before the confirmation
    page.get_by_role("button", name="Keep my booking").click()
    assert stored(stack, cal, booking["id"])["status"] == "confirmed"
    page.get_by_role("button", name="Cancel booking").click()
    shot(page, screenshots, "manage-4-confirm-cancel")
    page.get_by_role("button", name="Yes, cancel my booking").click()
    page.locator(f"{CARD}[data-state='cancelled']").wait_for()
    assert "has been cancelled" in page.locator(ALERT).inner_text()
    assert page.locator("a.bb-join").count() == 0  # a cancelled booking shows no join link
    assert page.get_by_role("button", name="Reschedule").is_hidden()
    assert page.get_by_role("link", name="Book again").get_attribute("href").endswith(f"/api/book/{cal.slug}")
    assert stored(stack, cal, booking["id"])["status"] == "cancelled"
    shot(page, screenshots, "manage-5-cancelled")
    assert page.console_errors == []


def test_reschedule_and_cancel_with_the_keyboard_only(stack, new_page):
    cal = stack.make_calendar(location="custom")
    day = future_day(2)
    slots = stack.slots(cal.slug, day, day, cal.timezone)
    booking = book(stack, cal, slots[0]["start"])
    page = new_page()
    page.goto(manage_url(stack, booking))
    page.locator(f"{CARD}[data-state='confirmed']").wait_for()

    def tab_to(predicate, limit: int = 80) -> dict[str, Any]:
        for _ in range(limit):
            page.keyboard.press("Tab")
            focused = active_element(page)
            if predicate(focused):
                return focused
        raise AssertionError("Tab never reached the element")

    tab_to(lambda f: f["text"] == "Reschedule")
    page.keyboard.press("Enter")
    page.locator(PICKER).locator(SLOT).first.wait_for()
    # Tab reaches every time of the shown day; choose the third one with Enter
    first = tab_to(lambda f: "bb-slot" in (f["cls"] or ""))
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    third = active_element(page)
    assert "bb-slot" in third["cls"] and third["start"] > first["start"]
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Move your booking?").wait_for()
    tab_to(lambda f: f["text"] == "Confirm new time")
    page.keyboard.press("Enter")
    page.locator(ALERT, has_text="has been moved").wait_for()
    assert stored(stack, cal, booking["id"])["start_utc"] == third["start"]

    tab_to(lambda f: f["text"] == "Cancel booking")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Cancel this booking?").wait_for()
    tab_to(lambda f: f["text"] == "Yes, cancel my booking")
    page.keyboard.press("Enter")
    page.locator(f"{CARD}[data-state='cancelled']").wait_for()
    assert stored(stack, cal, booking["id"])["status"] == "cancelled"


def test_a_wrong_token_or_id_says_the_link_is_not_valid(stack, new_page):
    cal = stack.make_calendar(location="custom")
    day = future_day(2)
    booking = book(stack, cal, stack.slots(cal.slug, day, day, cal.timezone)[0]["start"])
    page = new_page()
    page.goto(f"{stack.api}/manage/{booking['id']}?token=garbage")
    page.locator(ALERT).wait_for()
    assert "not valid" in page.locator(ALERT).inner_text()
    assert page.get_by_role("button", name="Cancel booking").is_hidden()
    assert page.goto(f"{stack.api}/manage/not-an-id").status == 404


def test_the_manage_page_at_390_px(stack, new_page, screenshots):
    cal = stack.make_calendar(location="custom")
    day = future_day(2)
    booking = book(stack, cal, stack.slots(cal.slug, day, day, cal.timezone)[0]["start"])
    page = new_page(width=390, height=844, is_mobile=True, has_touch=True)
    page.goto(manage_url(stack, booking))
    page.locator(f"{CARD}[data-state='confirmed']").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    shot(page, screenshots, "manage-6-phone")
    page.get_by_role("button", name="Reschedule").click()
    page.locator(PICKER).locator(SLOT).first.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, screenshots, "manage-7-phone-reschedule")


def test_the_done_screen_links_to_the_manage_page(stack, new_page):
    from tests.browser.helpers import DONE, fill_details

    cal = stack.make_calendar(location="custom")
    page = new_page()
    page.goto(stack.page_url(cal.slug))
    page.locator(SLOT).first.click()
    fill_details(page, "Ada Lovelace", "ada@example.com")
    page.get_by_role("button", name="Confirm booking").click()
    page.locator(DONE).wait_for()
    link = page.get_by_role("link", name="Manage your booking")
    booking_id = page.locator(".bb[data-booking-id]").get_attribute("data-booking-id")
    assert f"/api/manage/{booking_id}?token=" in link.get_attribute("href")
    link.click()
    page.locator(f"{CARD}[data-state='confirmed']").wait_for()
    assert page.get_by_role("button", name="Reschedule").is_visible()


def test_the_emails_manage_link_opens_the_manage_page(stack, new_page):
    """Issue 21 (1): "Manage your booking" in the email used to open raw JSON."""
    from tests.browser.helpers import confirmation_text

    cal = stack.make_calendar(location="custom")
    day = future_day(2)
    address = f"manage-{cal.slug}@example.com"
    res = stack.call("POST", f"calendars/{cal.slug}/bookings", {
        "start": stack.slots(cal.slug, day, day, cal.timezone)[0]["start"], "name": "Ada Lovelace",
        "email": address, "timezone": "Europe/London"})
    assert res.status_code == 201, res.text
    stack.work_create(cal, res.json()["id"])
    text = confirmation_text(stack, address)
    link = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Manage your booking: "))
    assert link.startswith(f"{stack.api}/manage/{res.json()['id']}?token=")
    page = new_page()
    response = page.goto(link)
    assert response.headers["content-type"].startswith("text/html")
    page.locator(f"{CARD}[data-state='confirmed']").wait_for()
    assert page.get_by_role("button", name="Reschedule").is_visible()
    assert page.get_by_role("button", name="Cancel booking").is_visible()
