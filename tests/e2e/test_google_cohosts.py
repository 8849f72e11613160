"""A Google co-host of a collective calendar end to end (issue 20, rules 20 and 28): through the local Functions
host, Azurite, the Microsoft stand-in and the Google stand-in, every connection made through the browser flow.

Alex organizes (Teams and his Outlook calendar, one Microsoft account); Gwen, a co-host whose member entry says
``calendar_provider: google``, connected only her Google Calendar. A booking puts the event in Gwen's Google
calendar, written with her own connection ("Events: insert" with a client-supplied id, ``sendUpdates=none``, no
attendees: the invitee's invitation is Alex's), carrying the booking's Teams link; the invitee's cancel deletes it
("Events: delete"). The admin view lists Gwen as a Google co-host with her event's state.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from devhost.google_client import connect_google_ok, google_sandbox
from devhost.smoke import Client, wait_for

from .conftest import Workspace
from .conftest import admin_booking as admin

ALICE = "alice@contoso.example"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _calendar(members: list[dict[str, str]]) -> dict[str, Any]:
    return {"name": "Google co-host e2e", "type": "collective", "timezone": "UTC", "duration_minutes": 30,
            "slot_interval_minutes": 30, "weekly_hours": {d: [{"start": "09:00", "end": "17:00"}] for d in DAYS},
            "minimum_notice_minutes": 60, "max_days_ahead": 30, "reminder_offsets_minutes": [],
            "members": members}


def _events(client: Client, email: str) -> list[dict[str, Any]]:
    return list(google_sandbox(client, "GET", f"/_sandbox/events?email={email}")["value"])


def test_a_google_cohost_gets_the_event_with_the_teams_link_in_her_google_calendar_and_the_cancel_removes_it(
        client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    ws = new_workspace("gcohost")
    ws.user("alex"), ws.user("gwen")
    gwen = f"gwen@{ws.id}.example"
    google_sandbox(client, "POST", "/_sandbox/accounts", {"email": gwen, "name": "Gwen Google"})
    client.connect_ok(ws.id, "alex", "teams", ALICE)
    client.connect_ok(ws.id, "alex", "microsoft_calendar", ALICE)
    connect_google_ok(client, ws.id, "gwen", gwen)
    slug = ws.calendar("team", _calendar([
        {"user": "alex", "meeting_location": "teams", "calendar_provider": "microsoft"},
        {"user": "gwen", "meeting_location": "teams", "calendar_provider": "google"}]))
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=9)
    start = client.slots(slug, days=1, start=day.date())[-1]  # free for both (the stand-ins are shared)
    invitee = f"ina@{ws.id}.example"
    booked = client.book_ok(slug, start, "Ina Invitee", invitee)
    link = client.wait_link_status(booked, timeout=60)["meeting_url"]
    assert link  # the Teams link of the booking (the Microsoft stand-in's joinWebUrl)

    event = wait_for(lambda: next((e for e in _events(client, gwen) if e.get("location") == link), None), 60, 0.5,
                     "the co-host's Google event carrying the Teams link")
    assert event["status"] == "confirmed" and not event.get("attendees") and link in event["description"]
    assert event["start"]["dateTime"] == start
    assert len([e for e in _events(client, gwen) if e.get("location") == link]) == 1
    invitations = google_sandbox(client, "GET", "/_sandbox/invitations")["value"]
    assert [i for i in invitations if i["organizer"] == gwen] == []  # nobody invited from Gwen's calendar
    view = admin(client, ws.id, booked["id"])
    assert {p["user"]: (p["role"], p["event"], p.get("provider")) for p in view["participants"]} == {
        "alex": ("organizer", "written", None), "gwen": ("co_host", "written", "google")}

    cancelled = client.http.post(f"{client.base}/api/bookings/{booked['id']}/cancel",
                                 params={"token": booked["manage_token"]}, json={}, timeout=60)
    assert cancelled.status_code == 200, cancelled.text
    wait_for(lambda: next((e for e in _events(client, gwen) if e["id"] == event["id"]
                           and e["status"] == "cancelled"), None), 60, 0.5, "the co-host's Google event deleted")
    final = wait_for(lambda: (lambda v: v if {p["event"] for p in v["participants"]} == {"cancelled"} else None)(
        admin(client, ws.id, booked["id"])), what="both participants cancelled")
    assert final["status"] == "cancelled"
