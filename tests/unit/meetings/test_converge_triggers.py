"""Issue 15, rules 17-18: "every trigger goes through the reconciler" and "updates and cancellations use the
account that organizes the meeting". Each test reproduces a drift of the separate reschedule/cancel path:
a reschedule skipped a booking still waiting for its link, a cancel left a retrying booking's next attempt
(woken forever), and a reschedule PATCHed the meeting with another account's token."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.domain import reconcile as rc
from shared.errors import TransientError
from shared.ports import iso_utc, parse_iso_utc
from shared.usecases import meetings
from tests.unit.meetings.helpers import OID, OTHER_OID, Harness

CREATE_OR_GET = r"/me/onlineMeetings/createOrGet"


def due_rows(h: Harness) -> list[dict[str, Any]]:
    return list(h.store.query(rc.DUE_TABLE, rc.DUE_PK))


def retrying(h: Harness) -> dict[str, Any]:
    """A Teams booking whose link could not be made through the queue's retries: ``retrying``, due later."""
    h.connect("teams")
    h.graph.fail("POST", CREATE_OR_GET, 500, times=meetings.HOST_MAX_DEQUEUE_COUNT)
    b = h.add_booking()
    for attempt in range(1, meetings.HOST_MAX_DEQUEUE_COUNT + 1):
        with pytest.raises(TransientError):
            h.deliver(h.message(b), dequeue_count=attempt)
    h.deliver_poison(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "retrying" and [r["booking_id"] for r in due_rows(h)] == [b["id"]]
    return stored


def moved_a_day(h: Harness, booking: dict[str, Any]) -> tuple[dict[str, Any], str]:
    start = parse_iso_utc(booking["start_utc"]) + timedelta(days=1)
    moved = h.change_booking(booking["id"], start_utc=iso_utc(start), end_utc=iso_utc(start + timedelta(minutes=30)))
    return moved, iso_utc(start)


def test_a_reschedule_of_a_booking_waiting_for_its_link_makes_it_now_at_the_new_time(h: Harness) -> None:
    b = retrying(h)
    moved, start = moved_a_day(h, b)
    h.deliver(h.message(moved, "reschedule"))  # Graph answers again
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created" and stored["meeting_url"]
    [*_, body] = [c.body for c in h.graph.calls("POST", CREATE_OR_GET)]
    assert body["startDateTime"].startswith(start[:16])
    assert due_rows(h) == [] and not stored.get("next_attempt_at") and not stored.get("retry_failures")


def test_a_cancel_of_a_retrying_booking_ends_its_retries(h: Harness) -> None:
    b = retrying(h)
    cancelled = h.change_booking(b["id"], status="cancelled")
    h.deliver(h.message(cancelled, "cancel"))
    stored = h.booking(b["id"])
    assert due_rows(h) == [] and not stored.get("next_attempt_at")
    assert not rc.decide(stored, None, None, h.clock.now()).actions


def test_a_reschedule_never_patches_the_meeting_with_another_accounts_token(h: Harness) -> None:
    h.connect("teams", oid=OID)
    b = h.add_booking()
    h.deliver(h.message(b))
    old = h.booking(b["id"])
    assert old["organizer_oid"] == OID
    h.connect("teams", oid=OTHER_OID)  # reconnected as another account; its backfill message not handled yet
    moved, start = moved_a_day(h, old)
    h.deliver(h.message(moved, "reschedule"))
    old_id = old["online_meeting_id"]  # never acted on as the new account (a 404 there is not success)
    assert [c for c in h.graph.calls() if old_id.replace("/", "%2F").replace("=", "%3D") in c.path] == []
    stored = h.booking(b["id"])
    assert stored["organizer_oid"] == OTHER_OID and stored["meeting_url"] != old["meeting_url"]
    [*_, body] = [c.body for c in h.graph.calls("POST", CREATE_OR_GET)]
    assert body["startDateTime"].startswith(start[:16])
    assert [m["kind"] for m in h.queue.on("communications") if m["booking_id"] == b["id"]] == [
        "confirmation", "link_update"]


def test_an_account_without_teams_is_flagged_on_its_connection_on_the_event_path(h: Harness) -> None:
    # page "Create or set an event as an online meeting in an Outlook calendar": Outlook adds the Teams meeting
    # only where the account's calendar allows teamsForBusiness; without it the event comes back with
    # isOnlineMeeting false (no join URL ever comes): the Teams connection is flagged, as on the Teams-only path
    from shared.domain import connections as conn_rules
    from shared.domain.model import ConnectionKind
    from shared.usecases import connections

    h.connect("teams")
    h.connect("microsoft_calendar")
    h.graph.teams_enabled = False
    b = h.add_booking()
    h.deliver(h.message(b))  # the first delivery: no re-queue waiting for a join URL that never comes
    stored = h.booking(b["id"])
    assert stored["link_state"] == "failed" and stored["link_reason"] == meetings.REASON_TEAMS_UNAVAILABLE
    assert not h.graph.meetings  # never a fallback to an online meeting
    row = connections.get_connection(h.store, h.ws, h.host, "teams")
    view = conn_rules.connection_view(ConnectionKind.TEAMS, row)
    assert view["teams_unavailable"] is True and row["last_error"] == meetings.REASON_TEAMS_UNAVAILABLE
    assert [m["kind"] for m in h.queue.on("communications") if m["booking_id"] == b["id"]] == [
        "confirmation", "host_notice"]

