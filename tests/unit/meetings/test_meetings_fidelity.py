"""The meeting worker's Graph calls as a real tenant takes them (issue 16, SPEC rules 8 and 24)."""
from __future__ import annotations

from typing import Any

from shared.domain import meeting_plan
from tests.unit.meetings.helpers import Harness

CREATE_OR_GET = r"/me/onlineMeetings/createOrGet"


def requeued(h: Harness) -> list[Any]:
    return [m for m in h.queue.sent if m.queue == "meetings"]


def test_create_or_get_is_never_replaced_by_a_plain_create(h: Harness) -> None:
    """Page "onlineMeeting: createOrGet" (GA in v1.0): a plain POST /me/onlineMeetings has no externalId, so a
    redelivery would make a second meeting; a 404/405 on createOrGet fails the link with a reason instead."""
    h.connect("teams")
    h.graph.fail("POST", CREATE_OR_GET, 404, code="UnknownAction")
    b = h.add_booking()
    h.deliver(h.message(b))
    assert [(r.method, r.path) for r in h.graph.requests] == [("POST", CREATE_OR_GET)]
    assert not h.graph.meetings
    stored = h.booking(b["id"])
    assert stored["link_state"] == "failed" and "404" in stored["link_reason"]


def test_an_existing_meeting_createorget_returns_at_other_times_is_moved(h: Harness) -> None:
    """Page "onlineMeeting: createOrGet": for an externalId that exists, the meeting is returned as it is
    (200), so a booking moved before its meeting was stored would keep the old times: it is PATCHed."""
    h.connect("teams")
    b = h.add_booking()
    h.ports["graph"].create_or_get_online_meeting("tok-teams-1", {
        "externalId": meeting_plan.external_id(h.ws, b["id"]), "subject": "old",
        "startDateTime": "2026-11-24T15:00:00Z", "endDateTime": "2026-11-24T15:30:00Z"})
    h.graph.requests.clear()
    h.deliver(h.message(b))
    assert [(r.method, r.path.split("/")[2]) for r in h.graph.requests] == [("POST", "onlineMeetings"),
                                                                          ("PATCH", "onlineMeetings")]
    assert h.graph.requests[1].body == {"startDateTime": "2026-11-25T09:00:00Z", "endDateTime": "2026-11-25T09:30:00Z"}
    meeting = next(iter(h.graph.meetings.values()))
    assert meeting["startDateTime"] == "2026-11-25T09:00:00Z"
    assert h.booking(b["id"])["meeting_url"] == meeting["joinWebUrl"]


def test_a_createorget_at_the_right_times_costs_one_call(h: Harness) -> None:
    h.connect("teams")
    b = h.add_booking()
    h.deliver(h.message(b))
    assert len(h.graph.requests) == 1


def test_the_link_added_later_to_a_teams_event_never_replaces_its_body() -> None:
    """Rule 24 (microsoft-graph-docs-contrib#1895): replacing the body of a Teams event strips its Teams
    block; the event Outlook sent as the invitation only gets its location."""
    teams_event = {"invitation_channel": "outlook", "calendar_timezone": "UTC"}
    patch = meeting_plan.event_link_patch(teams_event, "https://teams.example/l/1", teams_link=True)
    assert patch == {"location": {"displayName": "Microsoft Teams Meeting", "locationUri": "https://teams.example/l/1"}}
    ics_event = meeting_plan.event_link_patch({"invitation_channel": "ics"}, "https://x.example/1", teams_link=False)
    assert "body" in ics_event and "location" in ics_event


def test_a_retried_link_write_to_a_teams_event_sends_no_body(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar")
    b = h.add_booking(link_state="failed", graph_event_id="EV1", invitation_channel="outlook",
                      event_carries_link=False)
    h.graph.events["EV1"] = {"id": "EV1", "subject": "x", "isOnlineMeeting": True}
    h.deliver(h.message(b))
    patches = [r for r in h.graph.requests if r.method == "PATCH" and "/events/" in r.path]
    assert patches and all("body" not in p.body for p in patches)
    assert h.booking(b["id"])["link_state"] == "created"


def test_a_missing_join_url_is_asked_again_through_the_queue_before_the_link_fails(h: Harness) -> None:
    """Outlook adds the Teams meeting to an event on its own time: the worker re-queues (never sleeps), and the
    repeated POST (same transactionId) returns the same event, now with its join URL."""
    h.connect("teams")
    h.connect("microsoft_calendar")
    h.graph.join_url_in_create = False
    h.graph.join_url_on_read = False
    b = h.add_booking()
    h.deliver(h.message(b))
    again = requeued(h)
    assert len(again) == 1 and again[0].message["attempt"] == 2 and again[0].visibility_timeout >= 30
    stored = h.booking(b["id"])
    assert stored["link_state"] == "pending" and not stored.get("link_reason")
    assert not [m for m in h.queue.on("communications") if m.get("kind") == "host_notice"]
    h.graph.join_url_in_create = True
    h.deliver(again[0].message)
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created" and stored["meeting_url"]
    assert len(h.graph.events) == 1  # the same event (transactionId), not a second one


def test_a_linked_calendar_without_teams_takes_the_teams_only_path(h: Harness) -> None:
    """Page "Create or set an event as an online meeting in an Outlook calendar": a calendar supports only the
    providers its allowedOnlineMeetingProviders lists; an event with isOnlineMeeting on one without
    teamsForBusiness gets no meeting while Outlook invites the attendee. The connect-time check recorded that
    (rule 26): the meeting is made with createOrGet and the event in that calendar carries its link, with no
    attendee (the invitation is the confirmation's .ics)."""
    h.connect("teams")
    h.connect("microsoft_calendar", linked_calendar_id="AAMkFrontDesk=")
    h.store.update("connections", {"PartitionKey": f"{h.ws}|{h.host}", "RowKey": "microsoft_calendar",
                                   "linked_calendar_allows_teams": False}, None, merge=True)
    b = h.add_booking()
    h.deliver(h.message(b))
    assert [(r.method, r.path) for r in h.graph.requests] == [
        ("POST", CREATE_OR_GET), ("POST", "/me/calendars/AAMkFrontDesk%3D/events")]
    event = h.graph.requests[1].body
    assert "isOnlineMeeting" not in event and "attendees" not in event
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created" and stored["invitation_channel"] == "ics"
    assert event["location"]["locationUri"] == stored["meeting_url"]


def test_an_unchecked_linked_calendar_keeps_the_one_call_path() -> None:
    row = {"status": "connected", "account_oid": "o", "account_tid": "t"}
    assert meeting_plan.ConnectionView.from_row(row).allows_teams  # never checked: as before
    assert not meeting_plan.ConnectionView.from_row({**row, "linked_calendar_allows_teams": False}).allows_teams
