"""The booking page books the Google member's slot (issue 20): a round robin of a Microsoft member whose Outlook
is not connected (busy: fail closed) and a Google member whose Google Calendar (the Google stand-in, connected
through Google's consent page) is busy in the morning; the page offers her afternoon and the booking is hers."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.browser.helpers import DONE, SLOT, fill_details, future_day, open_date, slot_button

pytestmark = pytest.mark.browser
GINA = "gina@example.com"


def _connect_google(stack, ws: str, user: str) -> None:
    """Connect link -> Continue -> Google's consent page -> the callback, as a browser would (one cookie jar)."""
    link = stack.call("POST", f"workspaces/{ws}/users/{user}/connections/google_calendar/connect-links", {})
    assert link.status_code == 201, link.text
    browser = requests.Session()
    browser.trust_env = False
    to_google = browser.post(link.json()["url"], allow_redirects=False, timeout=30)
    assert to_google.status_code == 302
    authorize = to_google.headers["Location"]
    params = dict(parse_qsl(urlsplit(authorize).query))
    back = browser.post(stack.google.authorization_endpoint, data={**params, "account": GINA, "decision": "allow"},
                        allow_redirects=False, timeout=30)
    done = browser.get(back.headers["Location"], allow_redirects=False, timeout=30)
    assert done.status_code == 200 and "Connected" in done.text, done.text[:300]


def test_the_page_books_the_google_members_slot(stack, new_page):
    tag = uuid.uuid4().hex[:8]
    ws, slug = f"gws-{tag}", f"team-{tag}"
    assert stack.call("PUT", f"workspaces/{ws}", {"name": "Mixed team"}).status_code in (200, 201)
    for user, name in (("max", "Max Outlook"), ("gina", "Gina Google")):
        body = {"name": name, "email": f"{user}-{tag}@acme.example", "timezone": "Europe/London"}
        assert stack.call("PUT", f"workspaces/{ws}/users/{user}", body).status_code in (200, 201)
    _connect_google(stack, ws, "gina")
    day = future_day(3)
    london = ZoneInfo("Europe/London")
    morning = datetime.fromisoformat(f"{day}T09:00:00").replace(tzinfo=london)
    stack.google.add_outside_event(GINA, morning.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                   (morning + timedelta(hours=3)).astimezone(ZoneInfo("UTC"))
                                   .strftime("%Y-%m-%dT%H:%M:%SZ"))
    weekly = {d: [{"start": "09:00", "end": "17:00"}] for d in
              ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
    calendar = {"slug": slug, "name": "Talk to the team", "type": "round_robin", "timezone": "Europe/London",
                "duration_minutes": 30, "weekly_hours": weekly, "minimum_notice_minutes": 60, "max_days_ahead": 60,
                "members": [{"user": "max", "meeting_location": "none", "calendar_provider": "microsoft"},
                            {"user": "gina", "meeting_location": "none", "calendar_provider": "google"}]}
    assert stack.call("PUT", f"workspaces/{ws}/calendars/team", calendar).status_code in (200, 201)
    slots = stack.slots(slug, day, day, "Europe/London")
    noon = (morning + timedelta(hours=3)).astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert slots and slots[0]["start"] == noon  # max is unreadable (busy), gina busy until noon

    page = new_page()
    page.goto(stack.page_url(slug))
    page.locator(SLOT).first.wait_for()
    open_date(page, day)
    assert slot_button(page, noon).count() == 1
    slot_button(page, noon).click()
    fill_details(page, "Ada Lovelace", f"ada-{tag}@example.com")
    page.get_by_role("button", name="Confirm booking").click()
    page.locator(DONE).wait_for()
    assert page.get_by_role("heading", name="You're booked").is_visible()
    rows = list(stack.store.query("schedule", f"{ws}|gina", row_key_from="booking|", row_key_to="booking}"))
    assert len(rows) == 1 and rows[0]["host"] == "gina" and rows[0]["calendar_provider"] == "google"
    assert rows[0]["start_utc"] == noon
