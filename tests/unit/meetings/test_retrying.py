"""Rule 16 through the meeting worker's queue functions and the timer sweep: a transient failure leaves a
booking ``retrying`` (never ``failed``) and the sweep repairs it once it is due; a failed update toward
Outlook is retried the same way. Each test reproduces a drift of issue 15 ("Why")."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.domain import reconcile as rc
from shared.errors import TransientError
from shared.ports import iso_utc, parse_iso_utc
from shared.usecases import meetings
from tests.unit.meetings.helpers import Harness, sweep_and_deliver

CREATE_OR_GET = r"/me/onlineMeetings/createOrGet"


def kinds(h: Harness, booking_id: str) -> list[tuple[str, int]]:
    return [(m["kind"], m["revision"]) for m in h.queue.on("communications") if m["booking_id"] == booking_id]


def due_rows(h: Harness) -> list[dict[str, Any]]:
    return list(h.store.query(rc.DUE_TABLE, rc.DUE_PK))


def outage(h: Harness, b: dict[str, Any], op: str = "create") -> None:
    """A Graph outage longer than the queue's retries: every delivery fails, then the poison handler runs."""
    for attempt in range(1, meetings.HOST_MAX_DEQUEUE_COUNT + 1):
        with pytest.raises(TransientError):
            h.deliver(h.message(b, op), dequeue_count=attempt)
    h.deliver_poison(h.message(b, op))


def test_a_graph_outage_longer_than_the_queue_retries_ends_retrying_then_created(h: Harness) -> None:
    h.connect("teams")
    h.graph.fail("POST", CREATE_OR_GET, 500, times=meetings.HOST_MAX_DEQUEUE_COUNT)
    b = h.add_booking()
    outage(h, b)
    stored = h.booking(b["id"])
    assert stored["link_state"] == "retrying"
    assert stored["next_attempt_at"] == iso_utc(h.clock.now() + timedelta(minutes=1))
    assert "Teams" not in stored["link_reason"] or "reconnect" not in stored["link_reason"].lower()
    assert kinds(h, b["id"]) == [("confirmation", 1)]  # the invitee is confirmed; a transient cause needs no host
    assert [r["booking_id"] for r in due_rows(h)] == [b["id"]]
    # not due yet: the sweep leaves it alone
    assert sweep_and_deliver(h) == []
    h.clock.advance(seconds=61)
    sent = sweep_and_deliver(h)
    assert [m["booking_id"] for m in sent] == [b["id"]]
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created" and stored["meeting_url"]
    assert not stored.get("next_attempt_at") and not stored.get("retry_failures")
    assert kinds(h, b["id"]) == [("confirmation", 1), ("link_update", 1)]
    assert due_rows(h) == []
    assert sweep_and_deliver(h) == []  # converged: nothing more


def test_each_failed_retry_doubles_the_wait(h: Harness) -> None:
    h.connect("teams")
    h.graph.fail("POST", CREATE_OR_GET, 500, times=3 * meetings.HOST_MAX_DEQUEUE_COUNT)
    b = h.add_booking()
    waits = []
    for _ in range(3):
        outage(h, b)
        stored = h.booking(b["id"])
        waits.append(parse_iso_utc(stored["next_attempt_at"]) - h.clock.now())
        h.clock.advance(minutes=5)
    assert waits == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    assert len(due_rows(h)) == 1
    assert kinds(h, b["id"]) == [("confirmation", 1)]


def test_throttled_beyond_the_queue_retries_is_retrying_not_failed(h: Harness) -> None:
    h.connect("teams")
    h.graph.fail("POST", CREATE_OR_GET, 429, headers={"Retry-After": "1"})
    b = h.add_booking()
    h.deliver({**h.message(b), "attempt": meetings.MAX_ATTEMPTS})
    stored = h.booking(b["id"])
    assert stored["link_state"] == "retrying" and "throttl" in stored["link_reason"]
    assert [r["booking_id"] for r in due_rows(h)] == [b["id"]]


def test_retries_stop_when_the_booking_starts(h: Harness) -> None:
    h.connect("teams")
    h.graph.fail("POST", CREATE_OR_GET, 500, times=meetings.HOST_MAX_DEQUEUE_COUNT)
    start = h.clock.now() + timedelta(seconds=45)
    b = h.add_booking(start_utc=start, end_utc=start + timedelta(minutes=30))
    outage(h, b)
    stored = h.booking(b["id"])
    assert stored["link_state"] == "failed" and due_rows(h) == []


def test_a_reschedule_that_fails_toward_outlook_is_repaired_by_the_sweep(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar")
    b = h.add_booking()
    h.deliver(h.message(b))
    current = h.booking(b["id"])
    start = parse_iso_utc(current["start_utc"]) + timedelta(days=1)
    moved = h.change_booking(b["id"], start_utc=iso_utc(start), end_utc=iso_utc(start + timedelta(minutes=30)))
    h.graph.fail("PATCH", r"/me/events/.+", 503, times=99)
    h.graph.fail("PATCH", r"/me/events/.+", 500, times=meetings.HOST_MAX_DEQUEUE_COUNT)
    h.graph.scripted.reverse()  # the 500s first (the queue's retries), then 503s until the outage ends
    for attempt in range(1, meetings.HOST_MAX_DEQUEUE_COUNT + 1):
        with pytest.raises(TransientError):
            h.deliver(h.message(moved, "reschedule"), dequeue_count=attempt)
    h.graph.scripted.clear()
    h.deliver_poison(h.message(moved, "reschedule"))
    stored = h.booking(b["id"])
    assert stored["graph_sync_error"] and stored["graph_synced_revision"] == 1
    assert stored["next_attempt_at"] and [r["booking_id"] for r in due_rows(h)] == [b["id"]]
    h.clock.advance(minutes=2)
    sweep_and_deliver(h)
    stored = h.booking(b["id"])
    assert stored["graph_synced_revision"] == 2 and not stored.get("graph_sync_error")
    event = next(iter(h.graph.events.values()))
    assert event["start"]["dateTime"].startswith(iso_utc(start)[:10])
    assert due_rows(h) == [] and not stored.get("next_attempt_at")


def test_a_cancel_that_fails_toward_outlook_is_repaired_by_the_sweep(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar")
    b = h.add_booking()
    h.deliver(h.message(b))
    cancelled = h.change_booking(b["id"], status="cancelled")
    h.graph.fail("POST", r"/me/events/.+/cancel", 500, times=meetings.HOST_MAX_DEQUEUE_COUNT)
    outage(h, cancelled, "cancel")
    stored = h.booking(b["id"])
    assert stored["graph_sync_error"] and not stored.get("graph_cancelled")
    h.clock.advance(minutes=2)
    sweep_and_deliver(h)
    stored = h.booking(b["id"])
    assert stored["graph_cancelled"] is True and not stored.get("graph_sync_error")
    assert len(h.graph.cancelled_events) == 1 and due_rows(h) == []


def test_messages_the_queue_did_not_take_are_sent_by_the_sweep(h: Harness, monkeypatch) -> None:
    """Found by the e2e queue-outage test: the worker made the link, then the queue service went down before the
    confirmation could be put. The outbox stayed on the booking, but nothing looked at it until that message came
    back (up to its processing visibility, 10 minutes). Now the booking gets a due row and the sweep flushes it."""
    from shared.errors import StorageUnavailable

    h.connect("teams")
    b = h.add_booking()
    send = h.queue.send

    def down_for_communications(queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        if queue == "communications":
            raise StorageUnavailable("queue storage unreachable")
        send(queue, message, **kwargs)

    monkeypatch.setattr(h.queue, "send", down_for_communications)
    with pytest.raises(StorageUnavailable):
        h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created" and stored["pending_notices"] == "confirmation"
    assert [r["booking_id"] for r in due_rows(h)] == [b["id"]] and stored["next_attempt_at"]
    monkeypatch.setattr(h.queue, "send", send)  # the queue service is back
    h.clock.advance(minutes=2)
    assert [m["op"] for m in sweep_and_deliver(h)] == ["reconcile"]
    assert kinds(h, b["id"]) == [("confirmation", 1)]
    final = h.booking(b["id"])
    assert not final.get("pending_notices") and not final.get("next_attempt_at") and due_rows(h) == []
