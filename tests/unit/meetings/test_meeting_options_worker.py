"""Rule 25: the calendar's meeting options, applied to each booking's Teams meeting and read back.

Pages "lobbyBypassSettings resource type" (scopes organizer, organization, everyone, ...) and
"onlineMeeting: createOrGet" (a meeting made through Graph lets only the organisation bypass the lobby).
"""
from __future__ import annotations

import json

from shared.domain.meeting_options import MeetingOptions
from tests.graph_contract_check import request_problems
from tests.unit.meetings.helpers import OID, Harness

CREATE_OR_GET = "/me/onlineMeetings/createOrGet"


def calendar(h: Harness, **options: object) -> None:
    h.store.upsert("calendars", {"PartitionKey": h.ws, "RowKey": "cal1", "slug": "intro", "name": "Intro call",
                                 "type": "personal", "timezone": "Europe/Amsterdam", "duration_minutes": 30,
                                 "slot_interval_minutes": 30, "meeting_options_json": json.dumps(options)})


def test_teams_only_meeting_gets_the_lobby_and_presenters_asked_for(h: Harness) -> None:
    h.connect("teams")
    calendar(h, lobby_bypass="everyone", allowed_presenters="organizer", record_automatically=True)
    b = h.add_booking()
    h.deliver(h.message(b))
    calls = [(r.method, r.path.split("/")[2]) for r in h.graph.requests]
    assert calls == [("POST", "onlineMeetings"), ("PATCH", "onlineMeetings")]
    patch = h.graph.requests[1]
    assert patch.body == {"lobbyBypassSettings": {"scope": "everyone"}, "allowedPresenters": "organizer",
                          "recordAutomatically": True}
    assert request_problems("PATCH", "/me/onlineMeetings/x", patch.body) == []
    stored = h.booking(b["id"])
    assert stored["meeting_options_state"] == "applied" and not stored.get("meeting_options_override")
    h.deliver(h.message(b), dequeue_count=2)  # a redelivery does not patch again
    assert len(h.graph.requests) == 2


def test_event_path_finds_the_meeting_by_its_join_url(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar")
    calendar(h, lobby_bypass="everyone")
    b = h.add_booking()
    h.deliver(h.message(b))
    link = h.booking(b["id"])["meeting_url"]
    find = [r for r in h.graph.requests if r.method == "GET" and r.path == "/me/onlineMeetings"]
    assert find and find[0].query["$filter"] == [f"JoinWebUrl eq '{link}'"] and find[0].token == "tok-teams-1"
    assert h.graph.requests[-1].method == "PATCH" and h.graph.requests[-1].body == {
        "lobbyBypassSettings": {"scope": "everyone"}}
    assert h.booking(b["id"])["meeting_options_state"] == "applied"


def test_a_tenant_policy_that_keeps_its_lobby_is_recorded_on_the_booking(h: Harness) -> None:
    h.connect("teams")
    calendar(h, lobby_bypass="everyone")
    h.graph.meeting_policy = {"lobbyBypassSettings": {"scope": "organization"}}
    b = h.add_booking()
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["meeting_options_state"] == "overridden"
    assert "lobby_bypass: asked everyone" in stored["meeting_options_override"]
    assert "organization" in stored["meeting_options_override"]
    assert stored["link_state"] == "created"  # the link stands


def test_tenant_default_options_cost_no_call(h: Harness) -> None:
    h.connect("teams")
    calendar(h)
    b = h.add_booking()
    h.deliver(h.message(b))
    assert len(h.graph.requests) == 1 and not h.booking(b["id"]).get("meeting_options_state")
    assert MeetingOptions().is_default and MeetingOptions(record_automatically=False).graph_patch() == {}
    assert OID
