"""``shared.domain.meeting_plan``: which Graph calls a booking needs and their bodies (pure)."""
from __future__ import annotations

from typing import Any

import pytest

from shared.domain import graph_time
from shared.domain import meeting_plan as mp
from shared.domain.meeting_plan import ConnectionView, LinkSource
from tests.graph_contract_check import request_problems

TEAMS = ConnectionView("connected", "oid-1", "tid-1")
CAL_SAME = ConnectionView("connected", "oid-1", "tid-1", "cal-1")
CAL_OTHER = ConnectionView("connected", "oid-2", "tid-1", "")


def booking(**overrides: Any) -> dict[str, Any]:
    base = {"id": "b1", "workspace": "ws1", "calendar_type": "personal", "calendar_timezone": "America/New_York",
            "location": "teams", "link_state": "pending", "start_utc": "2026-03-08T14:00:00Z",
            "end_utc": "2026-03-08T14:45:00Z", "invitee_name": "Ada", "invitee_email": "ada@example.com",
            "notes": "hi", "status": "confirmed"}
    base.update(overrides)
    return base


@pytest.mark.parametrize("teams,cal,has_event,expected", [
    (TEAMS, CAL_SAME, False, (LinkSource.EVENT_WITH_TEAMS, False, False)),
    (TEAMS, CAL_SAME, True, (LinkSource.ONLINE_MEETING, False, True)),
    (TEAMS, CAL_OTHER, False, (LinkSource.ONLINE_MEETING, True, False)),
    (TEAMS, None, False, (LinkSource.ONLINE_MEETING, False, False)),
    (None, CAL_SAME, False, (LinkSource.NO_CONNECTION, True, False)),
    (ConnectionView("needs_reauth", "oid-1", "tid-1"), None, False, (LinkSource.NO_CONNECTION, False, False)),
    (TEAMS, ConnectionView("needs_reauth", "oid-1", "tid-1"), False, (LinkSource.ONLINE_MEETING, False, False)),
    (ConnectionView("connected", "", ""), ConnectionView("connected", "", ""), False,
     (LinkSource.ONLINE_MEETING, True, False)),  # unknown accounts are never "the same"
])
def test_plan_for_a_teams_booking(teams, cal, has_event, expected) -> None:
    b = booking(graph_event_id="e1" if has_event else None)
    plan = mp.plan_create(b, teams, cal)
    assert (plan.link_source, plan.write_event, plan.update_event_link) == expected


def test_linked_calendar_id_is_taken_from_the_calendar_connection() -> None:
    assert mp.plan_create(booking(), TEAMS, CAL_SAME).calendar_id == "cal-1"
    assert mp.ConnectionView.from_row({"status": "connected", "linked_calendar_id": "x"}).linked_calendar_id == "x"
    assert mp.ConnectionView.from_row(None) is None


@pytest.mark.parametrize("overrides", [
    {"calendar_type": "class"}, {"calendar_type": "event"}, {"location": "none"},
    {"link_state": "created"}, {"link_state": "not_applicable"}, {"meeting_url": "https://x"},
])
def test_no_dynamic_link_wanted(overrides) -> None:
    assert not mp.wants_dynamic_link(booking(**overrides))


@pytest.mark.parametrize("state", ["pending", "awaiting_connection", "failed"])
def test_dynamic_link_wanted(state) -> None:
    assert mp.wants_dynamic_link(booking(link_state=state))


def test_custom_location_plan() -> None:
    b = booking(location="custom", custom_url="https://meet.example/x", link_state="static")
    plan = mp.plan_create(b, TEAMS, CAL_OTHER)
    assert (plan.link_source, plan.write_event) == (LinkSource.STATIC, True)
    assert mp.plan_create({**b, "meeting_url": "https://meet.example/x"}, TEAMS, None).nothing_to_do


def test_event_times_are_wall_clock_in_the_calendar_zone_named_by_windows_across_dst() -> None:
    # 2026-03-08 is the US DST switch: 14:00Z is 10:00 EDT (UTC-4), not 09:00 EST
    body = mp.event_with_teams_body(booking(), "Intro")
    assert body["start"] == {"dateTime": "2026-03-08T10:00:00", "timeZone": "Eastern Standard Time"}
    assert body["end"] == {"dateTime": "2026-03-08T10:45:00", "timeZone": "Eastern Standard Time"}
    winter = mp.event_times_patch(booking(start_utc="2026-03-07T14:00:00Z", end_utc="2026-03-07T14:30:00Z"))
    assert winter["start"]["dateTime"] == "2026-03-07T09:00:00"


@pytest.mark.parametrize("iana, windows, wall", [
    ("Europe/Amsterdam", "W. Europe Standard Time", "2026-03-08T15:00:00"),
    ("Europe/Madrid", "Romance Standard Time", "2026-03-08T15:00:00"),
    ("Europe/Zurich", "W. Europe Standard Time", "2026-03-08T15:00:00"),
    ("America/Toronto", "Eastern Standard Time", "2026-03-08T10:00:00"),
    ("Asia/Kolkata", "India Standard Time", "2026-03-08T19:30:00"),
])
def test_graph_gets_the_windows_zone_name_never_an_iana_name(iana: str, windows: str, wall: str) -> None:
    """Page "dateTimeTimeZone resource type": timeZone takes Windows names and a short list of IANA names;
    Europe/Amsterdam, Madrid, Zurich and America/Toronto are not on it (400 TimeZoneNotSupportedException)."""
    for body in (mp.event_with_teams_body(booking(calendar_timezone=iana), "Intro"),
                 mp.calendar_event_body(booking(calendar_timezone=iana), "", teams_link=False),
                 mp.event_times_patch(booking(calendar_timezone=iana))):
        assert body["start"] == {"dateTime": wall, "timeZone": windows}


def test_a_zone_without_a_windows_name_is_sent_in_utc() -> None:
    assert graph_time.windows_zone_name("Mars/Olympus") is None
    body = mp.event_times_patch(booking(calendar_timezone="Etc/GMT-14"))
    assert body["start"]["timeZone"] in {"UTC", "Line Islands Standard Time"}
    utc = mp.event_times_patch(booking(calendar_timezone="UTC"))
    assert utc["start"] == {"dateTime": "2026-03-08T14:00:00", "timeZone": "UTC"}


def test_unknown_timezone_falls_back_to_utc() -> None:
    body = mp.event_times_patch(booking(calendar_timezone="Mars/Olympus"))
    assert body["start"] == {"dateTime": "2026-03-08T14:00:00", "timeZone": "UTC"}


def test_online_meeting_body_uses_utc_instants_and_the_external_id() -> None:
    body = mp.online_meeting_body(booking(), "Intro")
    assert body == {"externalId": mp.external_id("ws1", "b1"), "subject": "Intro with Ada",
                    "startDateTime": "2026-03-08T14:00:00Z", "endDateTime": "2026-03-08T14:45:00Z"}


def test_subject_without_calendar_name_or_invitee() -> None:
    assert mp.meeting_subject({}, "") == "Meeting"
    assert mp.meeting_subject({"invitee_name": "Bo"}, "") == "Meeting with Bo"


def test_host_only_event_says_who_booked_and_carries_the_link() -> None:
    body = mp.calendar_event_body(booking(), "https://teams.microsoft.com/l/x", teams_link=True)
    assert "attendees" not in body and "isOnlineMeeting" not in body
    assert "Ada <ada@example.com>" in body["body"]["content"]
    # issue 21 (9): the host has no manage link; the text says whose link it is and where it is
    assert "manage link" not in body["body"]["content"]
    assert "\"Manage your booking\" link in their confirmation email" in body["body"]["content"]
    assert body["body"]["content"].startswith("Join the meeting: https://teams.microsoft.com/l/x")
    assert body["location"] == {"displayName": "Microsoft Teams Meeting", "locationUri": "https://teams.microsoft.com/l/x"}
    assert "location" not in mp.calendar_event_body(booking(), "", teams_link=False)


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/me/events", mp.event_with_teams_body(booking(), "Intro")),
    ("POST", "/me/calendars/c1/events", mp.calendar_event_body(booking(), "https://x", teams_link=False)),
    ("PATCH", "/me/events/e1", mp.event_link_patch(booking(), "https://x", teams_link=True)),
    ("PATCH", "/me/events/e1", mp.event_times_patch(booking())),
    ("POST", "/me/events/e1/cancel", mp.cancel_body()),
    ("POST", "/me/onlineMeetings/createOrGet", mp.online_meeting_body(booking())),
    ("PATCH", "/me/onlineMeetings/m1", mp.online_meeting_times_patch(booking())),
])
def test_every_body_builder_is_inside_the_contract(method, path, body) -> None:
    assert request_problems(method, path, body) == []


def test_join_url_readers() -> None:
    assert mp.join_url_of_event({"onlineMeeting": {"joinUrl": "u"}}) == "u"
    assert mp.join_url_of_event({"onlineMeeting": None}) == "" == mp.join_url_of_event(None)
    assert mp.join_url_of_online_meeting({"joinWebUrl": "w"}) == "w"


@pytest.mark.parametrize("state", ["awaiting_connection", "failed"])
def test_a_backfilled_booking_is_not_invited_twice_by_outlook(state):
    """Its confirmation already carried our .ics: the event must not add the invitee as attendee."""
    plan = mp.plan_create(booking(link_state=state), TEAMS, CAL_SAME)
    assert plan.link_source is LinkSource.ONLINE_MEETING
    assert plan.write_event  # still written to the linked calendar, without attendees
    assert mp.plan_create(booking(link_state="pending"), TEAMS, CAL_SAME).link_source is LinkSource.EVENT_WITH_TEAMS
