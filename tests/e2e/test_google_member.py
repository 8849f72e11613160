"""Google members end to end (issue 20, "Done when"): through the local Functions host, Azurite, the SMTP sink,
the Microsoft stand-in and the Google stand-in, every connection made through the browser flow.

Google's behaviour as the stand-in has it ("Freebusy: query", "Events: insert", "Create events",
"Using OAuth 2.0 for Web Server Applications": a revoked grant answers invalid_grant).
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from devhost.google_client import connect_google_ok, google_sandbox, wait_google_event
from devhost.smoke import wait_for

ALICE = "alice@contoso.example"
BOB = "bob@contoso.example"
GINA = "gina@example.com"
GUS = "gus@example.com"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(offset: int) -> datetime:
    """Midnight UTC ``offset`` days from now (never today: minimum notice)."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=offset)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _calendar(type_: str, members: list[dict[str, str]]) -> dict[str, Any]:
    return {"name": "Google e2e", "type": type_, "timezone": "UTC", "duration_minutes": 30,
            "slot_interval_minutes": 30, "weekly_hours": {d: [{"start": "09:00", "end": "17:00"}] for d in DAYS},
            "minimum_notice_minutes": 60, "max_days_ahead": 30, "reminder_offsets_minutes": [],
            "members": members}


def _outlook_busy(client, start: datetime, end: datetime) -> None:
    client.sandbox("POST", f"/_sandbox/accounts/{ALICE}/events", {
        "start": start.strftime("%Y-%m-%dT%H:%M:%S"), "end": end.strftime("%Y-%m-%dT%H:%M:%S"), "showAs": "busy"})


def _google_busy(client, email: str, start: datetime, end: datetime) -> None:
    google_sandbox(client, "POST", f"/_sandbox/accounts/{email}/events", {"start": _iso(start), "end": _iso(end)})


def _google_event_of(client, email: str, invitee: str) -> dict[str, Any]:
    return wait_google_event(client, email, invitee)


def test_a_mixed_round_robin_offers_the_google_members_free_slot_and_assigns_it_to_her(client, new_workspace):
    ws = new_workspace("grr")
    ws.user("alex"), ws.user("gina")
    client.connect_ok(ws.id, "alex", "microsoft_calendar", ALICE)
    connect_google_ok(client, ws.id, "gina", GINA)
    day = _day(5)
    _outlook_busy(client, day + timedelta(hours=9), day + timedelta(hours=17))
    _google_busy(client, GINA, day + timedelta(hours=9), day + timedelta(hours=10))
    _google_busy(client, GINA, day + timedelta(hours=10, minutes=30), day + timedelta(hours=17))
    slug = ws.calendar("rr", _calendar("round_robin", [
        {"user": "alex", "meeting_location": "none", "calendar_provider": "microsoft"},
        {"user": "gina", "meeting_location": "none", "calendar_provider": "google"}]))
    assert client.slots(slug, days=1, start=day.date()) == [_iso(day + timedelta(hours=10))]
    booked = client.book_ok(slug, _iso(day + timedelta(hours=10)), "Ivy Invitee", f"ivy@{ws.id}.example")
    assert booked["hosts"][0]["user"] == "gina"
    event = _google_event_of(client, GINA, f"ivy@{ws.id}.example")  # one Google event, the invitee invited
    assert event["start"]["dateTime"] == _iso(day + timedelta(hours=10)) and event["status"] == "confirmed"
    invites = google_sandbox(client, "GET", "/_sandbox/invitations")["value"]
    assert [i for i in invites if i["attendee"] == f"ivy@{ws.id}.example"] == [
        {"organizer": GINA, "attendee": f"ivy@{ws.id}.example", "event_id": event["id"], "what": "invitation"}]


def test_a_google_busy_block_hides_the_slot_on_a_collective_calendar(client, new_workspace):
    ws = new_workspace("gco")
    ws.user("alex"), ws.user("gina")
    client.connect_ok(ws.id, "alex", "microsoft_calendar", ALICE)
    connect_google_ok(client, ws.id, "gina", GINA)
    day = _day(6)
    _google_busy(client, GINA, day + timedelta(hours=12), day + timedelta(hours=13))
    slug = ws.calendar("co", _calendar("collective", [
        {"user": "alex", "meeting_location": "none", "calendar_provider": "microsoft"},
        {"user": "gina", "meeting_location": "none", "calendar_provider": "google"}]))
    offered = client.slots(slug, days=1, start=day.date())
    assert _iso(day + timedelta(hours=12)) not in offered and _iso(day + timedelta(hours=12, minutes=30)) not in offered
    assert _iso(day + timedelta(hours=11, minutes=30)) in offered and _iso(day + timedelta(hours=13)) in offered


def test_a_google_members_teams_booking_makes_one_google_event_with_the_invitee_and_the_teams_link(
        client, new_workspace):
    ws = new_workspace("gteams")
    ws.user("gina")
    connect_google_ok(client, ws.id, "gina", GINA)
    client.connect_ok(ws.id, "gina", "teams", BOB)
    slug = ws.calendar("p", _calendar("personal", [
        {"user": "gina", "meeting_location": "teams", "calendar_provider": "google"}]))
    day = _day(7)
    invitee = f"tess@{ws.id}.example"
    booked = client.book_ok(slug, _iso(day + timedelta(hours=14)), "Tess Teams", invitee)
    link = client.wait_link_status(booked, timeout=60)["meeting_url"]
    event = wait_for(lambda: (e := _google_event_of(client, GINA, invitee)).get("location") and e, 60, 0.5,
                     "the Teams link on the Google event")
    assert event["location"] == link and link in event["description"]
    events = google_sandbox(client, "GET", f"/_sandbox/events?email={GINA}")["value"]
    assert len([e for e in events if any(a.get("email") == invitee for a in e.get("attendees") or [])]) == 1
    assert link in client.wait_mail(invitee, "confirmation").text


def test_google_meet_bookings_get_unique_meet_links_in_their_confirmations(client, new_workspace):
    ws = new_workspace("gmeet")
    ws.user("gina")
    refused = client.mgmt("PUT", f"/workspaces/{ws.id}/calendars/m", json={"slug": f"{ws.id}-m", **_calendar(
        "personal", [{"user": "gina", "meeting_location": "google_meet", "calendar_provider": "google"}])})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "members[0].meeting_location"
    connect_google_ok(client, ws.id, "gina", GINA)
    slug = ws.calendar("m", _calendar("personal", [
        {"user": "gina", "meeting_location": "google_meet", "calendar_provider": "google"}]))
    day = _day(8)
    links = []
    for hour, name in ((9, "mia"), (11, "max")):
        invitee = f"{name}@{ws.id}.example"
        booked = client.book_ok(slug, _iso(day + timedelta(hours=hour)), name.title(), invitee)
        link = client.wait_link_status(booked, timeout=60)["meeting_url"]
        assert re.fullmatch(r"https://meet\.google\.com/[a-z]{3}-[a-z]{4}-[a-z]{3}", link)
        mail = client.wait_mail(invitee, "confirmation")
        assert link in mail.text and "Google Meet" in mail.text
        event = _google_event_of(client, GINA, invitee)
        assert event["conferenceData"]["createRequest"]["requestId"] == booked["id"]
        links.append(link)
    assert links[0] != links[1]


def test_revoking_the_google_grant_makes_the_member_busy_with_the_reason_in_diagnostics(client, new_workspace):
    ws = new_workspace("grev")
    ws.user("gus")
    connect_google_ok(client, ws.id, "gus", GUS)
    slug = ws.calendar("g", _calendar("personal", [
        {"user": "gus", "meeting_location": "none", "calendar_provider": "google"}]))
    day = _day(9)
    assert len(client.slots(slug, days=1, start=day.date())) == 16
    google_sandbox(client, "POST", f"/_sandbox/accounts/{GUS}/revoke")
    assert client.slots(slug, days=1, start=day.date()) == []  # fail closed
    diag = client.mgmt("GET", f"/workspaces/{ws.id}/calendars/g/diagnostics").json()
    entry = diag["members"][0]
    assert entry["free_busy"]["readable"] is False and "needs_reauth" in entry["free_busy"]["reason"]
    assert client.connection(ws.id, "gus", "google_calendar")["status"] == "needs_reauth"
    assert client.slots(slug, days=1, start=day.date()) == []  # and stays closed: no cached token reopens it


def test_stack_json_names_the_google_stand_in(client):
    google = client.info["google"]
    assert google["mode"] == "stand-in" and google["standin_base_url"]
    assert google["calendar_base_url"] == google["standin_base_url"] + "/calendar/v3"


def test_a_meet_booking_made_while_google_was_broken_gets_its_link_when_the_host_reconnects(client, new_workspace):
    """Issue 20 ("backfilled when the connection comes back"), end to end: Google Calendar refuses the grant
    ("Using OAuth 2.0 for Web Server Applications": a revoked grant answers invalid_grant), the Meet booking
    waits with its confirmation sent, and the host's reconnect through Google's consent page gives it its
    Meet link and the invitee one link update."""
    ws = new_workspace("gback")
    gwen = f"gwen@{ws.id}.example"
    google_sandbox(client, "POST", "/_sandbox/accounts", {"email": gwen, "name": "Gwen Google"})
    ws.user("gwen")
    connect_google_ok(client, ws.id, "gwen", gwen)
    slug = ws.calendar("m", _calendar("personal", [  # free/busy not read: the revoke does not close the slots
        {"user": "gwen", "meeting_location": "google_meet", "calendar_provider": "none"}]))
    google_sandbox(client, "POST", f"/_sandbox/accounts/{gwen}/revoke")
    invitee = f"ida@{ws.id}.example"
    booked = client.book_ok(slug, _iso(_day(6) + timedelta(hours=10)), "Ida", invitee)
    waiting = client.wait_link_status(booked, ("awaiting_connection",), timeout=60)
    assert not waiting.get("meeting_url") and client.wait_mail(invitee, "confirmation")
    connect_google_ok(client, ws.id, "gwen", gwen)  # the host reconnects
    link = client.wait_link_status(booked, timeout=90)["meeting_url"]
    assert re.fullmatch(r"https://meet\.google\.com/[a-z]{3}-[a-z]{4}-[a-z]{3}", link)
    assert link in client.wait_mail(invitee, "link_update").text
    assert _google_event_of(client, gwen, invitee)["conferenceData"]["createRequest"]["requestId"] == booked["id"]
