"""A Google co-host of a collective booking (issue 20, rules 20 and 28): a member after the first whose
``calendar_provider`` is ``google`` gets the booking's event in their OWN Google calendar, written with their own
``google_calendar`` connection, carrying the booking's link, with no attendees and ``sendUpdates=none`` (the
invitee's invitation is the organizer's), moved and deleted with the booking, exactly once per change (the event
id is derived from booking + user: a redelivered insert answers 409 ``duplicate``). Google's behaviour: "Events:
insert" (client-supplied ids, 409 duplicate, the ``sendUpdates`` parameter: ``none`` tells nobody), "Events:
patch" (only the fields sent change; ``sendUpdates``), "Events: delete" (``sendUpdates``; a deleted event answers
410), "Handle API errors" (503 ``backendError``: retry later)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.domain import google_events
from shared.domain import participants as rules
from shared.ports import iso_utc, parse_iso_utc
from tests.unit.meetings.helpers import OID, Harness, due_rows, invalid_grant, sweep_and_deliver
from tests.unit.meetings.test_cohosts import BOB, collective, participants, reconnected, records

GOOGLE = "google_calendar"
BOB_TOKEN = f"tok-{BOB}-{GOOGLE}-1"  # FakeTokens: bob's own google_calendar token


def booked_with_google_bob(h: Harness) -> dict[str, Any]:
    """Alex-like organizer (Teams + Outlook, Microsoft) and bob, a Google member, as intake records him."""
    h.connect("teams", oid=OID)
    h.connect("microsoft_calendar", oid=OID)
    h.connect(GOOGLE, oid="1234567890", tid="google", user=BOB)
    b = collective(h, BOB, participants_json=rules.planned([BOB]))
    h.deliver(h.message(b))
    return h.booking(b["id"])


def test_a_google_cohost_gets_one_event_in_their_google_calendar_with_the_teams_link_and_no_attendees(h, google):
    stored = booked_with_google_bob(h)
    assert stored["link_state"] == "created" and stored["meeting_url"].startswith("https://teams.microsoft.com/")
    [event] = google.events.values()
    assert event["id"] == google_events.cohost_event_id(h.ws, stored["id"], BOB) == records(stored)[BOB]["event_id"]
    assert event["id"] != google_events.event_id(h.ws, stored["id"])  # never the organizer's id
    assert event["location"] == stored["meeting_url"] and stored["meeting_url"] in event["description"]
    assert "attendees" not in event and "conferenceData" not in event
    assert google.tokens == [BOB_TOKEN]  # written with bob's own connection
    assert google.calls("POST")[0][2] == {"sendUpdates": "none"}  # nobody is told: the organizer invites
    assert [e["id"] for e in h.graph.mailbox_events("host")] == [stored["graph_event_id"]]  # the organizer's
    assert h.graph.mailbox_events(BOB) == []  # nothing in Outlook for a Google co-host
    assert participants(stored)[BOB] == {"user": BOB, "role": "co_host", "event": "written", "provider": "google"}

    h.deliver(h.message(stored))  # redelivered
    h.deliver(h.message(stored, "reconcile"))
    assert len(google.requests) == 1 and len(google.events) == 1


def test_a_redelivered_insert_whose_answer_was_lost_reads_the_event_instead_of_making_another(h, google):
    h.connect("teams", oid=OID)
    h.connect(GOOGLE, user=BOB)
    b = collective(h, BOB, participants_json=rules.planned([BOB]))
    made = google_events.cohost_event_id(h.ws, b["id"], BOB)
    google.events[made] = {"id": made, "status": "confirmed", "kind": "calendar#event"}  # the first attempt's
    h.deliver(h.message(b))
    assert [r[0] for r in google.requests] == ["POST", "GET"] and len(google.events) == 1
    assert records(h.booking(b["id"]))[BOB]["event_id"] == made


def test_reschedule_patches_the_times_once_and_cancel_deletes_once(h, google):
    stored = booked_with_google_bob(h)
    start = parse_iso_utc(stored["start_utc"]) + timedelta(days=1)
    moved = h.change_booking(stored["id"], start_utc=iso_utc(start), end_utc=iso_utc(start + timedelta(minutes=30)))
    h.deliver(h.message(moved, "reschedule"))
    h.deliver(h.message(moved, "reschedule"))  # redelivered
    [patch] = google.calls("PATCH")
    assert set(patch[3]) == {"start", "end"} and patch[3]["start"]["dateTime"] == iso_utc(start)
    assert patch[2] == {"sendUpdates": "none"} and patch[1] == records(moved)[BOB]["event_id"]
    [event] = google.events.values()
    assert event["location"] == stored["meeting_url"]  # the same link
    assert records(h.booking(stored["id"]))[BOB]["revision"] == 2

    cancelled = h.change_booking(stored["id"], status="cancelled")
    h.deliver(h.message(cancelled, "cancel"))
    h.deliver(h.message(cancelled, "cancel"))
    [delete] = google.calls("DELETE")
    assert delete[2] == {"sendUpdates": "none"} and event["status"] == "cancelled"
    assert set(google.tokens) == {BOB_TOKEN}
    assert participants(h.booking(stored["id"]))[BOB]["event"] == "cancelled"


def test_a_google_outage_past_the_queues_attempts_ends_retrying_and_the_sweep_repairs_it(h, google):
    google.outage = 100  # Google answers 503 backendError to every attempt
    stored = booked_with_google_bob(h)
    for redelivery in (2, 3, 4, 5):  # the queue's attempts (the step never raises: nothing is lost meanwhile)
        h.deliver(h.message(stored), dequeue_count=redelivery)
    stored = h.booking(stored["id"])
    assert stored["link_state"] == "created" and participants(stored)[BOB]["event"] == "retrying"
    assert "Google Calendar did not answer" in records(stored)[BOB]["error"] and google.events == {}
    assert [m["kind"] for m in h.queue.on("communications")] == ["confirmation"]  # the invitee is not held up
    [row] = due_rows(h)
    assert row["booking_id"] == stored["id"] and stored["next_attempt_at"]

    google.outage = 0  # Google is back
    h.clock.advance(minutes=30)
    assert [m["booking_id"] for m in sweep_and_deliver(h)] == [stored["id"]]
    final = h.booking(stored["id"])
    assert participants(final)[BOB]["event"] == "written" and len(google.events) == 1
    assert due_rows(h) == [] and not final.get("next_attempt_at") and "error" not in records(final)[BOB]
    assert sweep_and_deliver(h) == []  # converged


def test_a_revoked_google_grant_is_failed_with_a_reason_and_bobs_reconnect_repairs_it(h, google):
    h.tokens.fail[(BOB, GOOGLE)] = invalid_grant()  # the refresh token was revoked: needs_reauth
    stored = booked_with_google_bob(h)
    assert stored["link_state"] == "created"
    shown = participants(stored)[BOB]
    assert shown["event"] == "failed" and shown["provider"] == "google"
    assert "Google Calendar" in shown["error"] and "reconnect" in shown["error"].lower()
    assert due_rows(h) == [] and google.requests == []  # a person must act: nothing waits for a retry

    h.connect(GOOGLE, oid="1234567890", tid="google", user=BOB, status="needs_reauth")  # as the refresh left it
    assert reconnected(h, BOB, "microsoft_calendar") == []  # bob has no working calendar: nothing to repair yet
    del h.tokens.fail[(BOB, GOOGLE)]  # bob connects Google Calendar again
    h.connect(GOOGLE, oid="1234567890", tid="google", user=BOB)
    sent = reconnected(h, BOB, GOOGLE)
    assert [(m["op"], m["host"], m["booking_id"]) for m in sent] == [("reconcile", h.host, stored["id"])]
    final = h.booking(stored["id"])
    assert participants(final)[BOB]["event"] == "written" and "error" not in records(final)[BOB]
    [event] = google.events.values()
    assert event["location"] == final["meeting_url"]
    assert reconnected(h, BOB, GOOGLE) == []  # converged: nothing is sent again


def test_a_record_names_its_provider_and_an_old_record_is_microsofts() -> None:
    """The stored form: ``provider`` only for Google (records written before it were all Outlook events)."""
    old = rules.records('{"bob":{"event":"written","event_id":"AAMk","revision":1}}')["bob"]
    assert old.provider == rules.MICROSOFT and old.connection_kind == "microsoft_calendar"
    assert "provider" not in old.as_value()
    google = rules.records(rules.planned(["gwen"]))["gwen"]
    assert google.provider == rules.GOOGLE and google.connection_kind == GOOGLE and not google.event_id
    assert rules.records(rules.with_record(rules.planned(["gwen"]), "gwen", google))["gwen"] == google
    assert rules.planned([]) is None
