"""The stand-in refuses what Microsoft Graph refuses (issue 16); each test names the Microsoft page."""
from __future__ import annotations

from typing import Any

import pytest

from devhost.msstandin import StandIn

from .conftest import ALICE, BOB, Graph


def event(tz: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": "Intro", "start": {"dateTime": "2030-01-07T10:00:00", "timeZone": tz},
        "end": {"dateTime": "2030-01-07T10:30:00", "timeZone": tz},
    }
    body.update(over)
    return body


@pytest.mark.parametrize("tz", ["Europe/Amsterdam", "Europe/Madrid", "Europe/Zurich", "America/Toronto",
                                "Etc/UTC", "Mars/Olympus"])
def test_unsupported_time_zone_names_are_refused(graph: Graph, tz: str) -> None:
    """Page "dateTimeTimeZone resource type": Windows names plus a list of additional IANA names only."""
    resp = graph.post(ALICE, "/me/events", json=event(tz))
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "TimeZoneNotSupportedException"
    moved = graph.post(ALICE, "/me/events", json=event("UTC")).json()
    patch = graph.patch(ALICE, f"/me/events/{moved['id']}", json={"start": event(tz)["start"]})
    assert patch.json()["error"]["code"] == "TimeZoneNotSupportedException"
    schedule = graph.post(BOB, "/me/calendar/getSchedule", json={
        "schedules": [ALICE], "startTime": {"dateTime": "2030-01-07T00:00:00", "timeZone": tz},
        "endTime": {"dateTime": "2030-01-08T00:00:00", "timeZone": tz}})
    assert schedule.json()["error"]["code"] == "TimeZoneNotSupportedException"


@pytest.mark.parametrize("tz, utc_hour", [("W. Europe Standard Time", "09"), ("Eastern Standard Time", "15"),
                                          ("UTC", "10"), ("Europe/Berlin", "09"), ("America/New_York", "15"),
                                          ("Romance Standard Time", "09")])
def test_windows_names_utc_and_documented_iana_names_pass(graph: Graph, tz: str, utc_hour: str) -> None:
    """Page "dateTimeTimeZone resource type": Europe/Berlin and America/New_York are documented additions."""
    resp = graph.post(ALICE, "/me/events", json=event(tz))
    assert resp.status_code == 201, resp.text
    assert resp.json()["start"]["dateTime"][11:13] == utc_hour
    assert resp.json()["originalStartTimeZone"] == tz



def schedule(graph: Graph, who: str, *addresses: str) -> list[dict[str, Any]]:
    resp = graph.post(who, "/me/calendar/getSchedule", json={
        "schedules": list(addresses), "startTime": {"dateTime": "2030-01-07T00:00:00", "timeZone": "UTC"},
        "endTime": {"dateTime": "2030-01-08T00:00:00", "timeZone": "UTC"}})
    assert resp.status_code == 200, resp.text
    return resp.json()["value"]


def test_get_schedule_resolves_mailboxes_only_not_sign_in_names(ms: StandIn, graph: Graph, http: Any) -> None:
    """Page "calendar: getSchedule": schedules are SMTP addresses; an address that is no mailbox comes back
    as a per-schedule error (responseCode 5009, microsoft-graph-docs#11225). Page "ID token claims reference":
    the sign-in name (preferred_username) need not be the mailbox."""
    accounts = {a["upn"]: a for a in http.get(f"{ms.base_url}/_sandbox/accounts").json()["accounts"]}
    assert accounts[BOB]["mail"] == "bob.baker@contoso.example" and accounts[ALICE]["mail"] == ALICE
    by_upn, by_mail, ghost = schedule(graph, ALICE, BOB, "bob.baker@contoso.example", "ghost@contoso.example")
    assert by_upn["error"]["responseCode"] == "5009" and "resolve" in by_upn["error"]["message"]
    assert ghost["error"]["responseCode"] == "5009"
    assert "error" not in by_mail and by_mail["availabilityView"] == "0" * 48
    me = graph.get(BOB, "/me?$select=mail,userPrincipalName").json()
    assert (me["mail"], me["userPrincipalName"]) == ("bob.baker@contoso.example", BOB)


def test_a_body_patch_drops_the_teams_meeting_of_an_event(ms: StandIn, graph: Graph, http: Any) -> None:
    """microsoft-graph-docs-contrib#1895: replacing the body of a Teams event strips its Teams block."""
    created = graph.post(ALICE, "/me/events", json=event("UTC", isOnlineMeeting=True,
                                                         onlineMeetingProvider="teamsForBusiness")).json()
    url = created["onlineMeeting"]["joinUrl"]
    moved = graph.patch(ALICE, f"/me/events/{created['id']}", json={"subject": "moved"}).json()
    assert moved["onlineMeeting"]["joinUrl"] == url
    assert http.get(url).status_code == 200
    stripped = graph.patch(ALICE, f"/me/events/{created['id']}",
                           json={"body": {"contentType": "text", "content": "new"}}).json()
    assert stripped["isOnlineMeeting"] is False and not stripped.get("onlineMeeting")
    assert http.get(url).status_code == 404


def test_create_or_get_lets_only_the_organization_bypass_the_lobby_until_patched(ms: StandIn, graph: Graph) -> None:
    """Pages "onlineMeeting: createOrGet" and "lobbyBypassSettings resource type": the default lobby scope is
    the organisation; PATCH sets lobbyBypassSettings, allowedPresenters and recordAutomatically."""
    meeting = graph.post(ALICE, "/me/onlineMeetings/createOrGet", json={
        "externalId": "ext-lobby", "startDateTime": "2030-01-07T10:00:00Z", "endDateTime": "2030-01-07T10:30:00Z",
        "subject": "Call"}).json()
    assert meeting["lobbyBypassSettings"]["scope"] == "organization"
    patched = graph.patch(ALICE, f"/me/onlineMeetings/{meeting['id']}", json={
        "lobbyBypassSettings": {"scope": "everyone"}, "allowedPresenters": "organizer",
        "recordAutomatically": True}).json()
    assert (patched["lobbyBypassSettings"]["scope"], patched["allowedPresenters"],
            patched["recordAutomatically"]) == ("everyone", "organizer", True)
    ms.configure(lobby_bypass_policy="organization")  # a tenant policy keeps its own lobby
    kept = graph.patch(ALICE, f"/me/onlineMeetings/{meeting['id']}",
                       json={"lobbyBypassSettings": {"scope": "everyone"}}).json()
    assert kept["lobbyBypassSettings"]["scope"] == "organization"


def test_the_join_url_filter_finds_the_meeting_of_a_teams_event(ms: StandIn, graph: Graph) -> None:
    """Page "Get onlineMeeting": GET /me/onlineMeetings?$filter=JoinWebUrl eq '...' is the only list form."""
    created = graph.post(ALICE, "/me/events", json=event("UTC", isOnlineMeeting=True,
                                                         onlineMeetingProvider="teamsForBusiness")).json()
    url = created["onlineMeeting"]["joinUrl"]
    found = graph.get(ALICE, "/me/onlineMeetings", params={"$filter": f"JoinWebUrl eq '{url}'"}).json()["value"]
    assert [m["joinWebUrl"] for m in found] == [url]
    assert graph.get(ALICE, "/me/onlineMeetings").status_code == 400


def test_a_calendar_without_teams_gives_its_events_no_teams_meeting(ms: StandIn, graph: Graph) -> None:
    """Pages "Create or set an event as an online meeting in an Outlook calendar" and "calendar resource type": a
    calendar supports the online meeting providers its ``allowedOnlineMeetingProviders`` lists; an event asked
    for with ``isOnlineMeeting`` + ``teamsForBusiness`` on a calendar that lacks it is created without a meeting."""
    plain = ms.add_calendar(ALICE, "Front desk", providers=[])
    teams = ms.add_calendar(ALICE, "Consults")
    listed = {c["id"]: c for c in graph.get(
        ALICE, "/me/calendars?$select=id,name,isDefaultCalendar,canEdit,allowedOnlineMeetingProviders").json()["value"]}
    assert listed[plain]["allowedOnlineMeetingProviders"] == [] and listed[plain]["name"] == "Front desk"
    assert listed[teams]["allowedOnlineMeetingProviders"] == ["teamsForBusiness"]
    assert set(listed[plain]) == {"id", "name", "isDefaultCalendar", "canEdit", "allowedOnlineMeetingProviders"}
    assert graph.get(ALICE, f"/me/calendars/{plain}").json()["defaultOnlineMeetingProvider"] == "unknown"
    online = {"isOnlineMeeting": True, "onlineMeetingProvider": "teamsForBusiness"}
    without = graph.post(ALICE, f"/me/calendars/{plain}/events", json=event("UTC", **online))
    assert without.status_code == 201
    assert without.json()["onlineMeeting"] is None and without.json()["isOnlineMeeting"] is False
    with_teams = graph.post(ALICE, f"/me/calendars/{teams}/events", json=event("UTC", **online)).json()
    assert with_teams["onlineMeeting"]["joinUrl"]
    ms.reset()  # calendars added through the sandbox go with a reset
    assert graph.http.get(ms.graph_base_url + f"/me/calendars/{plain}", headers={
        "Authorization": f"Bearer {ms.access_token(ALICE)}"}).status_code == 404


def test_the_sandbox_refuses_an_unknown_provider(ms: StandIn) -> None:
    with pytest.raises(RuntimeError, match="400"):
        ms.sandbox("POST", f"/_sandbox/accounts/{ALICE}/calendars",
                   {"name": "x", "allowedOnlineMeetingProviders": ["zoom"]})
