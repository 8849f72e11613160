"""Collective co-hosts (rule 20, issue 15 point 5): every member of a collective booking is a participant. The
first member organizes the meeting; every other member with a connected Outlook calendar gets the booking's event
in their OWN linked calendar, written with their own ``microsoft_calendar`` connection, carrying the same link, and
moved and cancelled with the booking. Each co-host's state is recorded on the booking (``participants_json``, shown
as ``participants`` in the admin view); a co-host's failure is theirs alone (retried by the reconciler through the
due index), never blocking the booking's link or its confirmation."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from shared.domain import reconcile as rc
from shared.domain.slot_locks import lock_cells
from shared.ports import iso_utc, parse_iso_utc
from shared.repositories import bookings as bookings_repo
from shared.usecases.booking_admin import admin_view
from tests.unit.meetings.helpers import OID, OTHER_OID, Harness, due_rows, invalid_grant

BOB, CY = "bob", "cy"
BOB_OID = "0c7b6f1e-0000-4000-8000-0000000000b0"


def collective(h: Harness, *cohosts: str, **overrides: Any) -> dict[str, Any]:
    """A collective booking: the harness host organizes, ``cohosts`` take part (with their slot locks, as intake
    writes them in every host's partition)."""
    stored = h.add_booking(calendar_type="collective",
                           hosts=[{"user": h.host}] + [{"user": u} for u in cohosts], **overrides)
    booking = bookings_repo.booking_from_entity(stored)
    for user in cohosts:
        for cell in lock_cells(booking.start_utc, booking.end_utc):
            h.store.insert(bookings_repo.SCHEDULE, bookings_repo.lock_entity(h.ws, user, cell, booking, h.clock.now()))
    return stored


def reconnected(h: Harness, user: str, kind: str = "microsoft_calendar") -> list[dict[str, Any]]:
    """A reconnect of ``user``'s ``kind`` (its ``backfill`` message), then every ``meetings`` message it sent."""
    from functions import backfill_sweep

    before = len(h.queue.on("meetings"))
    backfill_sweep.backfill_host(h.queue_message({"workspace": h.ws, "host": user, "reason": "reconnected",
                                                  "kind": kind}))
    sent = h.queue.on("meetings")[before:]
    for body in sent:
        h.deliver(body)
    return sent


def participants(booking: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["user"]: p for p in admin_view(booking)["participants"]}


def records(booking: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(booking.get("participants_json") or "{}"))


def booked_with_bob(h: Harness, *, same_account_host: bool = True) -> dict[str, Any]:
    h.connect("teams", oid=OID)
    if same_account_host:
        h.connect("microsoft_calendar", oid=OID)
    h.connect("microsoft_calendar", oid=BOB_OID, linked_calendar_id="bob-cal", user=BOB)
    b = collective(h, BOB)
    h.deliver(h.message(b))
    return h.booking(b["id"])


def test_a_cohost_gets_the_event_with_the_same_link_in_their_own_linked_calendar(h: Harness) -> None:
    stored = booked_with_bob(h)
    assert stored["link_state"] == "created" and stored["meeting_url"]
    [event] = h.graph.mailbox_events(BOB)  # written with bob's own calendar connection, in his linked calendar
    assert event["_calendar"] == "bob-cal" and event["location"]["locationUri"] == stored["meeting_url"]
    assert event["start"]["timeZone"] == "W. Europe Standard Time" and "attendees" not in event
    assert [e["id"] for e in h.graph.mailbox_events("host")] == [stored["graph_event_id"]]  # the organizer's own
    assert participants(stored) == {
        h.host: {"user": h.host, "role": "organizer", "event": "written"},
        BOB: {"user": BOB, "role": "co_host", "event": "written", "provider": "microsoft"},
    }
    assert records(stored)[BOB]["event_id"] == event["id"]
    h.deliver(h.message(stored, "reconcile"))  # converged: nothing is written twice
    assert len(h.graph.mailbox_events(BOB)) == 1 and len(h.graph.calls("POST")) == 2


def test_a_reschedule_and_a_cancel_reach_the_cohosts_event(h: Harness) -> None:
    stored = booked_with_bob(h)
    start = parse_iso_utc(stored["start_utc"]) + timedelta(days=1)
    moved = h.change_booking(stored["id"], start_utc=iso_utc(start), end_utc=iso_utc(start + timedelta(minutes=30)))
    h.deliver(h.message(moved, "reschedule"))
    [event] = h.graph.mailbox_events(BOB)
    assert event["start"]["dateTime"].startswith(iso_utc(start + timedelta(hours=1))[:16])  # Berlin wall clock
    assert event["location"]["locationUri"] == stored["meeting_url"]  # the same link
    [patch] = [c for c in h.graph.calls("PATCH") if c.token.startswith(f"tok-{BOB}-")]
    assert set(patch.body) == {"start", "end"}
    assert records(h.booking(stored["id"]))[BOB]["revision"] == 2

    cancelled = h.change_booking(stored["id"], status="cancelled")
    h.deliver(h.message(cancelled, "cancel"))
    assert h.graph.mailbox_events(BOB) == [] and h.graph.mailbox_events("host") == []
    final = h.booking(stored["id"])
    assert participants(final)[BOB]["event"] == "cancelled"
    assert not rc.decide(final, None, None, h.clock.now()).actions


def test_a_cohost_failure_never_blocks_the_link_and_the_reconciler_retries_it(h: Harness) -> None:
    h.connect("teams", oid=OID)
    h.connect("microsoft_calendar", oid=BOB_OID, user=BOB)
    h.graph.fail("POST", r"/me/events", 503, times=1)  # bob's event (the organizer has no calendar here)
    b = collective(h, BOB)
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created" and stored["meeting_url"]
    assert [m["kind"] for m in h.queue.on("communications")] == ["confirmation"]
    assert participants(stored)[BOB]["event"] == "retrying" and records(stored)[BOB]["error"]
    [row] = due_rows(h)
    assert row["booking_id"] == b["id"] and stored["next_attempt_at"] == row["RowKey"].split("|")[0]
    assert h.graph.mailbox_events(BOB) == []

    h.clock.advance(minutes=2)
    h.deliver(h.message(stored, "reconcile", due_row=row["RowKey"]))  # the sweep's retry
    final = h.booking(b["id"])
    [event] = h.graph.mailbox_events(BOB)
    assert event["location"]["locationUri"] == final["meeting_url"] and participants(final)[BOB]["event"] == "written"
    assert due_rows(h) == [] and not final.get("next_attempt_at") and not final.get("retry_failures")
    assert "error" not in records(final)[BOB]


def test_a_cohost_without_a_calendar_gets_nothing_written_and_a_broken_one_is_shown(h: Harness) -> None:
    h.connect("teams", oid=OID)
    h.connect("microsoft_calendar", oid=OTHER_OID, user=CY)
    h.tokens.fail[(CY, "microsoft_calendar")] = invalid_grant()
    b = collective(h, BOB, CY)
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created"
    shown = participants(stored)
    assert shown[BOB]["event"] == "emailed" and shown[CY]["event"] == "failed"  # bob: the .ics by e-mail
    assert "reconnect" in records(stored)[CY]["error"].lower()
    assert [c for c in h.graph.calls() if c.token.startswith("tok-cy") or c.token.startswith("tok-bob")] == []
    assert due_rows(h) == []  # a person must reconnect: nothing waits for a retry

    assert reconnected(h, BOB) == []  # bob has no calendar: nothing to repair
    del h.tokens.fail[(CY, "microsoft_calendar")]  # cy reconnects: her repair finds the booking of another host
    sent = reconnected(h, CY)
    assert [(m["op"], m["host"], m["booking_id"]) for m in sent] == [("reconcile", h.host, b["id"])]
    final = h.booking(b["id"])
    assert participants(final)[CY]["event"] == "written" and len(h.graph.mailbox_events(CY)) == 1
    assert reconnected(h, CY) == []  # converged: nothing is sent again


def test_a_link_made_later_reaches_the_cohosts_event(h: Harness) -> None:
    """The organizer's Teams was not connected at booking: the co-host's event is written without a link, and
    gets the link when the backfill makes it (the same link as the booking)."""
    h.connect("microsoft_calendar", oid=BOB_OID, user=BOB)
    b = collective(h, BOB, link_state="awaiting_connection")
    h.deliver(h.message(b))
    [event] = h.graph.mailbox_events(BOB)
    assert "location" not in event
    h.connect("teams", oid=OID)
    h.deliver(h.message(h.booking(b["id"]), "reconcile"))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created"
    [event] = h.graph.mailbox_events(BOB)
    assert event["location"]["locationUri"] == stored["meeting_url"]
    assert records(stored)[BOB]["link"] == stored["meeting_url"]
