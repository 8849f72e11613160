"""The linked Outlook calendar through the local host + Microsoft stand-in (issue 15 item 6, issue 16 finding 5).

The host connects Teams and the calendar with the same account, lists the account's calendars, links one; a booking's
event lands there. A linked calendar whose ``allowedOnlineMeetingProviders`` lacks ``teamsForBusiness`` (made with the
stand-in's ``/_sandbox/accounts/{upn}/calendars``; pages "calendar resource type" and "Create or set an event as an
online meeting in an Outlook calendar") is shown as a problem and its bookings take the Teams-only path.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devhost.smoke import Client, wait_for

from .conftest import Workspace, around_the_clock_calendar

CAROL = "carol@fabrikam.example"
CONN = "/workspaces/{ws}/users/host/connections/microsoft_calendar"


def linked_events(client: Client, calendar_id: str) -> list[dict[str, Any]]:
    return [e for e in client.sandbox("GET", f"/_sandbox/events?upn={CAROL}")["value"]
            if e["calendar_id"] == calendar_id]


def setup_host(client: Client, new_workspace: Callable[[str], Workspace]) -> tuple[Workspace, str]:
    ws = new_workspace("linked")
    ws.user("host")
    slug = ws.calendar("intro", around_the_clock_calendar("host"))
    client.connect_ok(ws.id, "host", "teams", CAROL)
    client.connect_ok(ws.id, "host", "microsoft_calendar", CAROL)
    return ws, slug


def test_events_land_in_the_linked_calendar_and_one_without_teams_takes_the_teams_only_path(
        client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    ws, slug = setup_host(client, new_workspace)
    consults = client.sandbox("POST", f"/_sandbox/accounts/{CAROL}/calendars", {"name": "Consults"})["id"]
    desk = client.sandbox("POST", f"/_sandbox/accounts/{CAROL}/calendars",
                          {"name": "Front desk", "allowedOnlineMeetingProviders": []})["id"]
    conn = CONN.format(ws=ws.id)
    listed = client.mgmt("GET", conn + "/calendars")
    assert listed.status_code == 200, listed.text
    by_id = {c["id"]: c for c in listed.json()["calendars"]}
    assert by_id[consults]["allows_teams"] is True and by_id[desk]["allows_teams"] is False
    assert set(by_id[desk]) == {"id", "name", "is_default", "can_edit", "allows_teams"}
    assert client.mgmt("PUT", conn, json={"linked_calendar_id": "AAMkNotCarols="}).status_code == 422

    # a calendar that allows Teams: ONE event call there (rule 8), Outlook invites, the event carries the link
    assert client.mgmt("PUT", conn, json={"linked_calendar_id": consults}).status_code == 200
    starts = client.slots(slug, days=3)
    first = client.wait_link_status(client.book_ok(slug, starts[70], "Ina", "ina@invitee.example"))
    [event] = linked_events(client, consults)
    assert event["event"]["onlineMeeting"]["joinUrl"] == first["meeting_url"]

    # a calendar without teamsForBusiness: shown as a problem; createOrGet, then the event there carries the link
    linked = client.mgmt("PUT", conn, json={"linked_calendar_id": desk})
    assert linked.status_code == 200 and linked.json()["linked_calendar"]["allows_teams"] is False
    assert "does not allow Teams meetings" in linked.json()["problems"][0]
    diagnostics = client.mgmt("GET", f"/workspaces/{ws.id}/calendars/intro/diagnostics").json()
    assert any("does not allow Teams meetings" in p for p in diagnostics["problems"])
    client.sandbox("DELETE", "/_sandbox/requests")
    second = client.wait_link_status(client.book_ok(slug, starts[80], "Ola", "ola@invitee.example"))
    # on this path the link is stored first and the event written right after it: wait for the event
    [event] = wait_for(lambda: linked_events(client, desk), what="the event in the linked calendar")
    assert event["event"]["location"]["locationUri"] == second["meeting_url"]
    assert event["event"]["onlineMeeting"] is None and not event["event"]["attendees"]
    calls = [(r["method"], r["path"]) for r in client.recorded(upn=CAROL) if r.get("area") == "graph"]
    assert ("POST", "/v1.0/me/onlineMeetings/createOrGet") in calls
    assert ("POST", f"/v1.0/me/calendars/{desk}/events") in calls
