"""A Google member's booking through the reconciler (issue 20, point 5; rule 28): one event in the member's
Google calendar with the invitee as attendee and the meeting link, moved on reschedule and deleted on cancel,
exactly once; Google Meet links from ``conferenceData.createRequest`` with the booking id as ``requestId``.
Google's behaviour: "Events: insert" (client ids, 409 duplicate, sendUpdates), "Create events" (conferenceData,
conferenceDataVersion=1), "Handle API errors" (410 deleted)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from shared.domain import google_events
from shared.ports import iso_utc
from tests.unit.meetings.helpers import sweep_and_deliver

GOOGLE = "google_calendar"


def _sent(h, kind: str) -> list[dict]:
    return [m for m in h.queue.on("communications") if m.get("kind") == kind]


def test_a_google_members_teams_booking_makes_one_google_event_with_the_invitee_and_the_teams_link(h, google):
    h.connect("teams")
    h.connect(GOOGLE, oid="1234567890", tid="google")
    b = h.add_booking(calendar_provider="google")
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created" and stored["meeting_url"]
    [event] = google.events.values()
    assert event["id"] == google_events.event_id(h.ws, b["id"]) == stored["google_event_id"]
    assert event["attendees"] == [{"email": "ada@example.com", "displayName": "Ada Lovelace"}]
    assert event["location"] == stored["meeting_url"] and stored["meeting_url"] in event["description"]
    assert google.calls("POST")[0][2] == {"sendUpdates": "all"}  # Google sends the invitation
    h.deliver(h.message(b))  # redelivered: nothing more
    assert len(google.calls("POST")) == 1 and len(google.events) == 1


def test_an_insert_retried_after_a_lost_answer_reads_the_event_it_made(h, google):
    h.connect(GOOGLE)
    b = h.add_booking(calendar_provider="google", location="none", link_state="not_applicable")
    google.events[google_events.event_id(h.ws, b["id"])] = {"id": google_events.event_id(h.ws, b["id"]),
                                                           "status": "confirmed", "kind": "calendar#event"}
    h.deliver(h.message(b))
    assert [r[0] for r in google.requests] == ["POST", "GET"]  # 409 duplicate -> the existing event
    assert h.booking(b["id"])["google_event_id"] == google_events.event_id(h.ws, b["id"])


def test_reschedule_moves_the_event_and_cancel_deletes_it_exactly_once(h, google):
    h.connect(GOOGLE)
    b = h.add_booking(calendar_provider="google", location="custom", link_state="static",
                      custom_url="https://meet.example/room", meeting_url="https://meet.example/room")
    h.deliver(h.message(b))
    start = h.clock.now().replace(hour=13, minute=0, second=0, microsecond=0) + timedelta(days=3)
    moved = h.change_booking(b["id"], start_utc=iso_utc(start), end_utc=iso_utc(start + timedelta(minutes=30)))
    h.deliver(h.message(moved, "reschedule"))
    h.deliver(h.message(moved, "reschedule"))
    [patch] = google.calls("PATCH")
    assert patch[3]["start"]["dateTime"] == iso_utc(start) and "conferenceData" not in patch[3]
    cancelled = h.change_booking(b["id"], status="cancelled")
    h.deliver(h.message(cancelled, "cancel"))
    h.deliver(h.message(cancelled, "cancel"))
    assert len(google.calls("DELETE")) == 1 and google.calls("DELETE")[0][2] == {"sendUpdates": "all"}
    assert h.booking(b["id"])["google_cancelled"] is True


def test_a_google_meet_booking_gets_a_unique_meet_link_keyed_by_the_booking(h, google):
    h.connect(GOOGLE)
    first = h.add_booking(location="google_meet", link_state="pending")
    second = h.add_booking(location="google_meet", link_state="pending")
    h.deliver(h.message(first))
    h.deliver(h.message(second))
    links = [h.booking(b["id"])["meeting_url"] for b in (first, second)]
    assert all(re.fullmatch(r"https://meet\.google\.com/[a-z0-9-]+", link) for link in links)
    assert links[0] != links[1]
    inserts = google.calls("POST")
    assert [r[3]["conferenceData"]["createRequest"]["requestId"] for r in inserts] == [first["id"], second["id"]]
    assert all(r[2]["conferenceDataVersion"] == "1" for r in inserts)
    assert h.booking(first["id"])["link_state"] == "created"
    assert {m["booking_id"] for m in _sent(h, "confirmation")} == {first["id"], second["id"]}


def test_a_meet_link_is_kept_when_the_booking_moves(h, google):
    h.connect(GOOGLE)
    b = h.add_booking(location="google_meet", link_state="pending")
    h.deliver(h.message(b))
    link = h.booking(b["id"])["meeting_url"]
    start = h.clock.now().replace(hour=15, minute=0, second=0, microsecond=0) + timedelta(days=4)
    moved = h.change_booking(b["id"], start_utc=iso_utc(start), end_utc=iso_utc(start + timedelta(minutes=30)))
    h.deliver(h.message(moved, "reschedule"))
    assert h.booking(b["id"])["meeting_url"] == link and len(google.calls("POST")) == 1


def test_a_meet_booking_waits_for_the_google_connection_then_is_backfilled(h, google):
    b = h.add_booking(location="google_meet", link_state="pending")
    h.deliver(h.message(b))
    waiting = h.booking(b["id"])
    assert waiting["link_state"] == "awaiting_connection" and "Google Calendar" in waiting["link_reason"]
    assert _sent(h, "confirmation") and _sent(h, "host_notice")
    h.connect(GOOGLE)
    h.deliver(h.message(waiting, "reconcile"))
    done = h.booking(b["id"])
    assert done["link_state"] == "created" and done["meeting_url"].startswith("https://meet.google.com/")
    assert [m["kind"] for m in h.queue.on("communications")].count("link_update") == 1


def test_a_google_member_whose_grant_was_revoked_gets_a_sync_error_not_a_lost_booking(h, google):
    h.connect(GOOGLE, status="needs_reauth")
    b = h.add_booking(calendar_provider="google", location="none", link_state="not_applicable")
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["status"] == "confirmed" and "event is written when the host connects" in stored["google_sync_error"]
    assert google.requests == []
    from shared.usecases.booking_admin import admin_view

    seen = admin_view(stored)["google"]  # a person sees it (GET /api/workspaces/{ws}/bookings/{id})
    assert seen["event"] == "none" and "event is written when the host connects" in seen["sync_error"]
    h.connect(GOOGLE)
    h.deliver(h.message(stored, "reconcile"))
    healed = admin_view(h.booking(b["id"]))["google"]
    assert healed == {"event": "written", "event_id": google_events.event_id(h.ws, b["id"]), "sync_error": None}


def test_the_host_notice_of_a_meet_booking_points_at_google_calendar(h, google):
    from types import SimpleNamespace

    from shared.adapters.signing import Signer
    from shared.mail.notice_texts import notice_text
    from shared.mail.templates import BookingView
    from shared.repositories.bookings import booking_from_entity
    from shared.usecases.communications.compose import host_notice_view

    b = h.add_booking(location="google_meet", link_state="pending")
    h.deliver(h.message(b))
    booking = booking_from_entity(h.booking(b["id"]))
    deps = SimpleNamespace(store=h.store, signer=Signer("notice-signing-key-0123456789abcdef"),
                           public_base_url="https://bookbridge.example", clock=h.clock)
    blank = BookingView(calendar_name="Intro", host_names=[], invitee_name="Ada", invitee_email="ada@example.com",
                        invitee_timezone="UTC", start_utc=booking.start_utc, end_utc=booking.end_utc)
    view = host_notice_view(deps, booking, blank)
    assert view.notice_cause == "google" and view.reconnect_url.startswith("https://bookbridge.example/api/reconnect/")
    assert notice_text("google").link_label == "Connect Google Calendar"


def test_a_meet_conference_google_is_still_making_is_asked_for_again_through_the_queue(h, google):
    h.connect(GOOGLE)
    google.meet_pending = True
    b = h.add_booking(location="google_meet", link_state="pending")
    h.deliver(h.message(b))
    assert h.booking(b["id"])["link_state"] == "pending" and not h.booking(b["id"]).get("google_event_id")
    [again] = [m for m in h.queue.on("meetings") if m.get("attempt") == 2]  # re-queued, never slept
    google.meet_pending = False
    h.deliver(again)
    done = h.booking(b["id"])
    assert done["link_state"] == "created" and done["meeting_url"].startswith("https://meet.google.com/")
    assert [r[0] for r in google.requests] == ["POST", "POST", "GET"]  # the second insert read the event (409)
    assert len(google.events) == 1


def test_a_google_outage_longer_than_the_queue_retries_is_repaired_by_the_sweep(h, google):
    """Rule 16 for the Google side: Google answering 503 ("Handle API errors": retry with backoff) past every
    queued attempt leaves a sync error a person can see and a due row; the timer sweep writes the event once
    it is due, then nothing is left waiting."""
    from shared.domain import reconcile as rc

    h.connect(GOOGLE)
    google.outage = 1000
    b = h.add_booking(calendar_provider="google", location="custom", link_state="static",
                      custom_url="https://meet.example/room", meeting_url="https://meet.example/room")
    message = h.message(b)
    for _ in range(50):  # the queue's attempts: each re-queued copy delivered until the worker gives up
        h.deliver(message)
        copies = [m for m in h.queue.on("meetings") if m.get("attempt", 1) > message.get("attempt", 1)]
        if not copies:
            break
        message = copies[-1]
    stored = h.booking(b["id"])
    assert not stored.get("google_event_id") and not stored.get("graph_sync_error") and stored["next_attempt_at"]
    assert "Google Calendar kept asking" in stored["google_sync_error"]  # Google named, not Microsoft
    assert [r["booking_id"] for r in h.store.query(rc.DUE_TABLE, rc.DUE_PK)] == [b["id"]]
    google.outage = 0
    h.clock.advance(minutes=2)
    assert [m["booking_id"] for m in sweep_and_deliver(h)] == [b["id"]]
    healed = h.booking(b["id"])
    assert healed["google_event_id"] == google_events.event_id(h.ws, b["id"]) and len(google.events) == 1
    assert not healed.get("google_sync_error") and not healed.get("next_attempt_at")
    assert list(h.store.query(rc.DUE_TABLE, rc.DUE_PK)) == []
    assert sweep_and_deliver(h) == []  # converged: nothing more


def _reconnected(h, kind: str = GOOGLE) -> list[dict]:
    """A reconnect of the host's ``kind`` (the ``backfill`` message it sends), then every ``meetings`` message."""
    from functions import backfill_sweep

    before = len(h.queue.on("meetings"))
    backfill_sweep.backfill_host(h.queue_message({"workspace": h.ws, "host": h.host, "reason": "reconnected",
                                                  "kind": kind}))
    sent = h.queue.on("meetings")[before:]
    for body in sent:
        h.deliver(body)
    return sent


@pytest.mark.parametrize("teams_connected", [False, True])
def test_a_meet_booking_is_backfilled_by_the_google_reconnect_itself(h, google, teams_connected):
    """The path a host takes: a Meet booking made while Google Calendar was disconnected gets its link when the
    host connects Google Calendar (the reconnect's ``backfill`` message), whether or not Teams is connected,
    and its index row is not thrown away as "not Teams" on the way."""
    if teams_connected:
        h.connect("teams")
    b = h.add_booking(location="google_meet", link_state="pending")
    h.deliver(h.message(b))
    assert h.booking(b["id"])["link_state"] == "awaiting_connection"
    if teams_connected:  # Teams cannot make a Meet link: its reconnect leaves the booking (and its row) waiting
        assert _reconnected(h, "teams") == [] and h.booking(b["id"])["link_state"] == "awaiting_connection"
    h.connect(GOOGLE)
    assert [m["booking_id"] for m in _reconnected(h)] == [b["id"]]
    done = h.booking(b["id"])
    assert done["link_state"] == "created" and done["meeting_url"].startswith("https://meet.google.com/")
    assert [m["kind"] for m in h.queue.on("communications")].count("link_update") == 1
    assert _reconnected(h) == []  # converged: a second reconnect sends nothing


def test_the_timer_sweep_backfills_a_meet_booking_whose_reconnect_message_was_lost(h, google):
    b = h.add_booking(location="google_meet", link_state="pending")
    h.deliver(h.message(b))
    h.connect(GOOGLE)  # its ``backfill`` message never handled
    assert [m["booking_id"] for m in sweep_and_deliver(h)] == [b["id"]]
    done = h.booking(b["id"])
    assert done["link_state"] == "created" and done["meeting_url"].startswith("https://meet.google.com/")


def test_a_google_member_who_also_connected_outlook_gets_one_event_and_one_invitation(h, google):
    """The member chose Google as their calendar (``calendar_provider: google``): the booking's event and the
    invitee's invitation come from Google only, never a second one from Outlook through a Microsoft calendar
    connection the member also has (the Teams link is made on its own and carried by the Google event)."""
    h.connect("teams")
    h.connect("microsoft_calendar")
    h.connect(GOOGLE, oid="1234567890", tid="google")
    b = h.add_booking(calendar_provider="google")
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created" and stored["meeting_url"]
    assert not stored.get("graph_event_id") and not h.graph.events  # no Outlook event, no Outlook invitation
    [event] = google.events.values()
    assert event["location"] == stored["meeting_url"]
    assert [a["email"] for a in event["attendees"]] == ["ada@example.com"]
