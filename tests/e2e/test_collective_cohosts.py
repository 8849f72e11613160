"""Collective co-hosts through the local host + Microsoft stand-in (issue 15 point 5, rule 20).

Alice organizes (Teams and her Outlook calendar, one account); Bob, a co-host, connected only his own Outlook
calendar with another account. A booking of the collective calendar puts the event in Bob's calendar, written
with his own connection ("Create event": ``POST /me/events`` with the link as ``location``; no attendees, so
Outlook sends nobody a second invitation), carrying the same Teams link as the booking; the invitee's reschedule
moves it ("Update event": ``PATCH /me/events/{id}`` with ``start``/``end``) and the cancel removes it ("Delete
event"). The admin view lists both participants with their event state.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devhost.smoke import Client, wait_for

from .conftest import Workspace, around_the_clock_calendar
from .conftest import admin_booking as admin

ALICE, BOB = "alice@contoso.example", "bob@contoso.example"


def bobs_events(client: Client) -> list[dict[str, Any]]:
    return [e["event"] for e in client.sandbox("GET", f"/_sandbox/events?upn={BOB}")["value"]]


def test_a_collective_cohosts_calendar_gets_the_event_with_the_same_link_and_its_updates(
        client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    ws = new_workspace("cohost")
    ws.user("alice")
    ws.user("bob")
    body = around_the_clock_calendar("alice", provider="microsoft")
    body["type"] = "collective"
    body["members"].append({"user": "bob", "meeting_location": "teams", "calendar_provider": "microsoft"})
    slug = ws.calendar("team", body)
    client.connect_ok(ws.id, "alice", "teams", ALICE)
    client.connect_ok(ws.id, "alice", "microsoft_calendar", ALICE)
    client.connect_ok(ws.id, "bob", "microsoft_calendar", BOB)
    before = {e["id"] for e in bobs_events(client)}

    starts = client.slots(slug, days=3)
    booked = client.book_ok(slug, starts[60], "Ina", "ina@invitee.example")
    linked = client.wait_link_status(booked)
    link = linked["meeting_url"]
    event = wait_for(lambda: next((e for e in bobs_events(client) if e["id"] not in before
                                   and (e.get("location") or {}).get("locationUri")), None),
                     what="the co-host's event carrying the link")
    assert event["location"]["locationUri"] == link and not event["attendees"]
    view = admin(client, ws.id, booked["id"])
    assert {p["user"]: (p["role"], p["event"]) for p in view["participants"]} == {
        "alice": ("organizer", "written"), "bob": ("co_host", "written")}

    new_start = starts[64]
    moved = client.http.post(f"{client.base}/api/bookings/{booked['id']}/reschedule",
                             params={"token": booked["manage_token"]}, json={"start": new_start}, timeout=60)
    assert moved.status_code == 200, moved.text
    again = wait_for(lambda: next((e for e in bobs_events(client) if e["id"] == event["id"]
                                   and e["start"]["dateTime"][:16] == new_start[:16]), None),
                     what="the co-host's event at the new time")
    assert again["location"]["locationUri"] == link  # the same link

    cancelled = client.http.post(f"{client.base}/api/bookings/{booked['id']}/cancel",
                                 params={"token": booked["manage_token"]}, json={}, timeout=60)
    assert cancelled.status_code == 200, cancelled.text
    wait_for(lambda: all(e["id"] != event["id"] for e in bobs_events(client)), what="the co-host's event removed")
    removed = client.sandbox("GET", f"/_sandbox/events?upn={BOB}")["removed"]
    assert [r["how"] for r in removed if r["event"]["id"] == event["id"]] == ["delete"]
    final = wait_for(lambda: (lambda v: v if {p["event"] for p in v["participants"]} == {"cancelled"} else None)(
        admin(client, ws.id, booked["id"])), what="both participants cancelled")
    assert final["status"] == "cancelled"
