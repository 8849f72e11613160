"""Graph endpoints of the stand-in: events, Teams links, free/busy, online meetings, $batch."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from devhost.graph_contract import validate
from devhost.msstandin import StandIn

from .conftest import ALICE, BOB, CAROL, DAVE, ERIN, Graph

ALICE_CAL = "AAMkADNhbGljZS1jb250b3NvLXByaW1hcnkAAAEGAAA="
ALICE_BOOKINGS = "AAMkADNhbGljZS1jb250b3NvLWJvb2tpbmdzAAAEGAA="


def event_body(**over: Any) -> dict[str, Any]:
    body = {
        "subject": "Intro call with Ina",
        "body": {"contentType": "html", "content": "<p>Booked via bookbridge</p>"},
        "start": {"dateTime": "2030-01-07T10:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2030-01-07T10:30:00", "timeZone": "Europe/Berlin"},
        "attendees": [{"emailAddress": {"address": "ina@example.com", "name": "Ina"}, "type": "required"}],
        "isOnlineMeeting": True, "onlineMeetingProvider": "teamsForBusiness", "transactionId": "booking-1",
    }
    body.update(over)
    return body


def window(start: str, end: str, tz: str = "UTC") -> dict[str, Any]:
    return {"startTime": {"dateTime": start, "timeZone": tz}, "endTime": {"dateTime": end, "timeZone": tz}}


def test_me_and_calendars(graph: Graph) -> None:
    me = graph.get(ALICE, "/me").json()
    assert (me["id"], me["userPrincipalName"], me["displayName"]) == (
        "3743f5ba-10c7-41d8-838b-7d52ca026829", ALICE, "Alice Archer")
    assert graph.get(ALICE, "/me?$select=id,mail").json().keys() == {"@odata.context", "id", "mail"}
    cal = graph.get(ALICE, "/me/calendar").json()
    assert cal["id"] == ALICE_CAL and cal["isDefaultCalendar"] is True
    assert cal["defaultOnlineMeetingProvider"] == "teamsForBusiness"
    assert [c["id"] for c in graph.get(ALICE, "/me/calendars").json()["value"]] == [ALICE_CAL, ALICE_BOOKINGS]
    assert graph.get(DAVE, "/me/calendar").json()["allowedOnlineMeetingProviders"] == []


def test_event_with_teams_link_and_join_page(ms: StandIn, graph: Graph, http: requests.Session) -> None:
    resp = graph.post(ALICE, "/me/events", json=event_body())
    assert resp.status_code == 201
    ev = resp.json()
    assert validate(ev, "event") == []
    join = ev["onlineMeeting"]["joinUrl"]
    assert join.startswith(f"{ms.base_url}/meet/") and ev["isOnlineMeeting"] is True
    assert ev["onlineMeetingProvider"] == "teamsForBusiness" and ev["onlineMeetingUrl"] is None
    assert ev["start"] == {"dateTime": "2030-01-07T09:00:00.0000000", "timeZone": "UTC"}
    assert ev["originalStartTimeZone"] == "Europe/Berlin"
    assert http.get(join).status_code == 200
    assert http.get(f"{ms.base_url}/meet/doesnotexist").status_code == 404
    other = graph.post(ALICE, "/me/events", json=event_body(transactionId="booking-2")).json()
    assert other["onlineMeeting"]["joinUrl"] != join  # every booking its own link
    assert graph.delete(ALICE, f"/me/events/{ev['id']}").status_code == 204
    assert http.get(join).status_code == 404
    assert graph.get(ALICE, f"/me/events/{ev['id']}").status_code == 404


def test_transaction_id_deduplicates(ms: StandIn, graph: Graph) -> None:
    first = graph.post(ALICE, "/me/events", json=event_body(transactionId="tx-42"))
    second = graph.post(ALICE, "/me/events", json=event_body(transactionId="tx-42", subject="retry"))
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["onlineMeeting"] == second.json()["onlineMeeting"]
    assert len(ms.events(ALICE)["value"]) == 1
    # per mailbox: Bob may use the same transactionId
    assert graph.post(BOB, "/me/events", json=event_body(transactionId="tx-42")).json()["id"] != first.json()["id"]


def test_account_without_teams_gets_event_without_meeting(graph: Graph) -> None:
    ev = graph.post(DAVE, "/me/events", json=event_body()).json()
    assert ev["isOnlineMeeting"] is False and ev["onlineMeeting"] is None
    assert ev["onlineMeetingProvider"] == "unknown"
    assert graph.post(ERIN, "/me/events", json=event_body()).json()["onlineMeeting"] is None


def test_unknown_property_and_bad_enum_refused(graph: Graph) -> None:
    resp = graph.post(ALICE, "/me/events", json=event_body(meetingLink="https://x"))
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["code"] == "RequestBodyRead" and "meetingLink" in err["message"] and "innerError" in err
    assert graph.post(ALICE, "/me/events", json=event_body(showAs="maybe")).status_code == 400
    nested = event_body(attendees=[{"emailAddress": {"adress": "x@example.com"}}])
    assert graph.post(ALICE, "/me/events", json=nested).status_code == 400
    bad_json = graph.post(ALICE, "/me/events", data="{", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "BadRequest"


def test_get_patch_select_and_prefer_timezone(graph: Graph) -> None:
    ev = graph.post(ALICE, "/me/events", json=event_body(transactionId="tx-move")).json()
    sel = graph.get(ALICE, f"/me/events/{ev['id']}?$select=subject,onlineMeeting").json()
    assert set(sel) == {"@odata.context", "@odata.etag", "id", "subject", "onlineMeeting"}
    assert graph.get(ALICE, f"/me/events/{ev['id']}?$select=nope").status_code == 400
    moved = graph.patch(ALICE, f"/me/events/{ev['id']}", json={
        "start": {"dateTime": "2030-01-08T15:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2030-01-08T15:30:00", "timeZone": "W. Europe Standard Time"}})
    assert moved.status_code == 200
    assert moved.json()["onlineMeeting"] == ev["onlineMeeting"]  # same event, same link
    assert moved.json()["changeKey"] != ev["changeKey"]
    local = graph.get(ALICE, f"/me/events/{ev['id']}", headers={"Prefer": 'outlook.timezone="Europe/Berlin"'})
    assert local.json()["start"] == {"dateTime": "2030-01-08T15:00:00.0000000", "timeZone": "Europe/Berlin"}
    assert graph.patch(ALICE, f"/me/events/{ev['id']}", json={"colour": "red"}).status_code == 400


def test_cancel_event(ms: StandIn, graph: Graph, http: requests.Session) -> None:
    ev = graph.post(ALICE, "/me/events", json=event_body(transactionId="tx-cancel")).json()
    assert graph.post(ALICE, f"/me/events/{ev['id']}/cancel", json={"Comment": "x", "reason": 1}).status_code == 400
    resp = graph.post(ALICE, f"/me/events/{ev['id']}/cancel", json={"comment": "Booking cancelled"})
    assert resp.status_code == 202 and resp.content == b""
    assert graph.get(ALICE, f"/me/events/{ev['id']}").status_code == 404
    removed = ms.events(ALICE)["removed"]
    assert removed[0]["how"] == "cancel" and removed[0]["comment"] == "Booking cancelled"
    assert removed[0]["event"]["isCancelled"] is True
    assert http.get(ev["onlineMeeting"]["joinUrl"]).status_code == 404


def test_calendar_specific_events_and_calendar_view_paging(graph: Graph) -> None:
    created = graph.post(ALICE, f"/me/calendars/{ALICE_BOOKINGS}/events", json=event_body(transactionId="b1"))
    assert created.status_code == 201
    assert graph.get(ALICE, "/me/events").json()["value"] == []  # primary calendar only
    assert len(graph.get(ALICE, f"/me/calendars/{ALICE_BOOKINGS}/events").json()["value"]) == 1
    assert graph.post(ALICE, "/me/calendars/nope/events", json=event_body()).status_code == 404
    for day in range(12):
        start = f"2030-02-{day + 1:02d}T09:00:00"
        graph.post(ALICE, "/me/events", json=event_body(
            transactionId=f"v{day}", start={"dateTime": start, "timeZone": "UTC"},
            end={"dateTime": start.replace("09:00", "09:30"), "timeZone": "UTC"}))
    page = graph.get(ALICE, "/me/calendarView?startDateTime=2030-02-01T00:00:00Z&endDateTime=2030-03-01T00:00:00Z")
    body = page.json()
    assert len(body["value"]) == 10 and "@odata.nextLink" in body
    rest = graph.http.get(body["@odata.nextLink"], headers={"Authorization": f"Bearer {graph.token(ALICE)}"})
    assert len(rest.json()["value"]) == 2 and "@odata.nextLink" not in rest.json()
    narrow = graph.get(ALICE, "/me/calendarView?startDateTime=2030-02-03T09:15:00Z&endDateTime=2030-02-03T10:00:00Z")
    assert len(narrow.json()["value"]) == 1
    assert graph.get(ALICE, "/me/calendarView").status_code == 400


def test_get_schedule_shows_outside_event_as_busy(ms: StandIn, graph: Graph) -> None:
    ms.add_outside_event(ALICE, "2030-01-07T12:00:00Z", "2030-01-07T13:00:00Z", subject="Dentist")
    ms.add_outside_event(ALICE, "2030-01-07T14:00:00Z", "2030-01-07T15:00:00Z", show_as="free")
    graph.post(ALICE, "/me/events", json=event_body())  # 09:00-09:30 UTC, busy
    resp = graph.post(BOB, "/me/calendar/getSchedule", json={
        "schedules": [ALICE], **window("2030-01-07T08:00:00", "2030-01-07T16:00:00"),
        "availabilityViewInterval": 60})
    assert resp.status_code == 200
    info = resp.json()["value"][0]
    assert validate(info, "scheduleInformation") == []
    items = [(i["status"], i["start"]["dateTime"][:16]) for i in info["scheduleItems"]]
    assert items == [("busy", "2030-01-07T09:00"), ("busy", "2030-01-07T12:00"), ("free", "2030-01-07T14:00")]
    assert info["availabilityView"] == "02002000"
    assert "subject" not in info["scheduleItems"][1]  # another person's calendar: no subject
    own = graph.post(ALICE, "/me/calendar/getSchedule", json={"Schedules": [ALICE],
                                                              **window("2030-01-07T08:00:00", "2030-01-07T16:00:00")})
    assert own.json()["value"][0]["scheduleItems"][1]["subject"] == "Dentist"


def test_get_schedule_limits_and_errors(graph: Graph) -> None:
    many = {"schedules": [f"u{i}@contoso.example" for i in range(21)], **window("2030-01-07T00:00", "2030-01-08T00:00")}
    assert graph.post(ALICE, "/me/calendar/getSchedule", json=many).status_code == 400
    long = {"schedules": [ALICE], **window("2030-01-01T00:00:00", "2030-03-04T00:00:00")}
    assert graph.post(ALICE, "/me/calendar/getSchedule", json=long).status_code == 400
    ok = {"schedules": [ALICE], **window("2030-01-01T00:00:00", "2030-03-03T00:00:00")}  # 61 days
    assert graph.post(ALICE, "/me/calendar/getSchedule", json=ok).status_code == 200
    bad_param = {"schedules": [ALICE], "timeZone": "UTC", **window("2030-01-01T00:00", "2030-01-02T00:00")}
    assert graph.post(ALICE, "/me/calendar/getSchedule", json=bad_param).json()["error"]["code"] == "RequestBodyRead"
    cross = graph.post(ALICE, "/me/calendar/getSchedule", json={
        "schedules": [CAROL, "ghost@contoso.example"], **window("2030-01-07T00:00", "2030-01-08T00:00")}).json()
    assert [v["error"]["responseCode"] for v in cross["value"]] == ["ErrorNoFreeBusyAccess",
                                                                    "5009"]


def test_online_meetings_and_no_teams_403(ms: StandIn, graph: Graph, http: requests.Session) -> None:
    body = {"subject": "Call", "startDateTime": "2030-01-07T10:00:00Z", "endDateTime": "2030-01-07T10:30:00Z"}
    resp = graph.post(ALICE, "/me/onlineMeetings", json=body)
    assert resp.status_code == 201
    meeting = resp.json()
    assert validate(meeting, "onlineMeeting") == [] and http.get(meeting["joinWebUrl"]).status_code == 200
    denied = graph.post(DAVE, "/me/onlineMeetings", json=body)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "Forbidden"
    moved = graph.patch(ALICE, f"/me/onlineMeetings/{meeting['id']}", json={"startDateTime": "2030-01-08T10:00:00Z",
                                                                           "endDateTime": "2030-01-08T10:30:00Z"})
    assert moved.status_code == 200 and moved.json()["joinWebUrl"] == meeting["joinWebUrl"]
    assert graph.post(ALICE, "/me/onlineMeetings", json={**body, "joinUrl": "x"}).status_code == 400
    assert graph.delete(ALICE, f"/me/onlineMeetings/{meeting['id']}").status_code == 204
    assert http.get(meeting["joinWebUrl"]).status_code == 404


def test_create_or_get_deduplicates_by_external_id(ms: StandIn, graph: Graph) -> None:
    body = {"externalId": "booking-7", "subject": "Call", "startDateTime": "2030-01-07T10:00:00Z",
            "endDateTime": "2030-01-07T10:30:00Z"}
    first = graph.post(ALICE, "/me/onlineMeetings/createOrGet", json=body)
    again = graph.post(ALICE, "/me/onlineMeetings/createOrGet", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] and first.json()["externalId"] == "booking-7"
    other = graph.post(ALICE, "/me/onlineMeetings/createOrGet", json={**body, "externalId": "booking-8"})
    assert other.json()["joinWebUrl"] != first.json()["joinWebUrl"]
    assert graph.post(ALICE, "/me/onlineMeetings/createOrGet", json={"subject": "x"}).status_code == 400
    assert len(ms.sandbox("GET", f"/_sandbox/meetings?upn={ALICE}")["value"]) == 2


def test_scopes_and_tokens_are_enforced(ms: StandIn, http: requests.Session) -> None:
    teams_only = ms.access_token(ALICE, ["OnlineMeetings.ReadWrite", "User.Read"])
    hdrs = {"Authorization": f"Bearer {teams_only}"}
    assert http.get(f"{ms.graph_base_url}/me/events", headers=hdrs).status_code == 403
    assert http.get(f"{ms.graph_base_url}/me", headers=hdrs).status_code == 200
    calendar_only = ms.access_token(ALICE, ["Calendars.ReadWrite", "User.Read"])
    assert http.post(f"{ms.graph_base_url}/me/onlineMeetings", json={},
                     headers={"Authorization": f"Bearer {calendar_only}"}).status_code == 403
    for auth in ({}, {"Authorization": "Bearer garbage"}):
        resp = http.get(f"{ms.graph_base_url}/me", headers=auth)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert http.get(f"{ms.graph_base_url}/me/nothing", headers=hdrs).status_code == 400


def test_batch_runs_requests_through_the_router(ms: StandIn, graph: Graph) -> None:
    batch = {"requests": [
        {"id": "1", "method": "POST", "url": "/me/events", "body": event_body(transactionId="batch-1"),
         "headers": {"Content-Type": "application/json"}},
        {"id": "2", "method": "GET", "url": "/me/events", "dependsOn": ["1"]},
        {"id": "3", "method": "POST", "url": "/me/events", "body": event_body(bogus=True),
         "headers": {"Content-Type": "application/json"}},
        {"id": "4", "method": "GET", "url": "/me", "dependsOn": ["3"]},
        {"id": "5", "method": "POST", "url": "/me/events", "body": event_body()},
    ]}
    resp = graph.post(ALICE, "/$batch", json=batch)
    assert resp.status_code == 200
    by_id = {r["id"]: r for r in resp.json()["responses"]}
    assert by_id["1"]["status"] == 201 and by_id["1"]["body"]["onlineMeeting"]["joinUrl"]
    assert len(by_id["2"]["body"]["value"]) == 1
    assert by_id["3"]["status"] == 400 and by_id["4"]["status"] == 424
    assert by_id["5"]["status"] == 400  # a body needs a Content-Type header
    too_many = {"requests": [{"id": str(i), "method": "GET", "url": "/me"} for i in range(21)]}
    assert graph.post(ALICE, "/$batch", json=too_many).status_code == 400
    items = ms.requests(upn=ALICE, path_regex="^/v1.0/me/events$")
    assert [e["area"] for e in items] == ["graph-batch-item"] * 3  # item 5 was refused before routing


def test_percent_encoded_ids_and_expired_tokens(ms: StandIn, graph: Graph, http: requests.Session) -> None:
    ev = graph.post(ALICE, f"/me/calendars/{quote(ALICE_BOOKINGS, safe='')}/events", json=event_body()).json()
    assert graph.get(ALICE, f"/me/events/{quote(ev['id'], safe='')}").status_code == 200
    assert graph.get(ALICE, f"/me/calendars/{quote(ALICE_CAL, safe='')}").json()["id"] == ALICE_CAL
    ms.configure(access_token_lifetime_s=0)
    expired = http.get(f"{ms.graph_base_url}/me", headers={"Authorization": f"Bearer {ms.access_token(ALICE)}"})
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
