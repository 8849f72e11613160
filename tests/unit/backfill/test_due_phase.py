"""The sweep's due phase (``shared.usecases.reconcile.due``): only due rows are read, each is claimed once
and sent as ``meetings/reconcile`` naming its row; a lost message is sent again after ``reenqueue_after``."""
from __future__ import annotations

from datetime import timedelta

from shared.domain import reconcile as rc
from shared.usecases import reconcile
from shared.usecases.backfill import run_sweep
from tests.fakes import FixedClock, InMemoryEntityStore, InMemoryMessageQueue
from tests.unit.backfill.helpers import add_booking, deps, new_ws


def reconciles(queue: InMemoryMessageQueue) -> list[tuple[str, str]]:
    return [(m["booking_id"], m["due_row"]) for m in queue.on("meetings") if m["op"] == "reconcile"]


def test_only_due_rows_are_read_claimed_and_sent_once() -> None:
    store, queue, clock = InMemoryEntityStore(), InMemoryMessageQueue(), FixedClock()
    ws = new_ws()
    now = clock.now()
    due_now = rc.due_entity(now - timedelta(seconds=5), ws, "h1", "b-due", 3)
    later = rc.due_entity(now + timedelta(minutes=5), ws, "h1", "b-later", 1)
    for row in (due_now, later):
        store.upsert(rc.DUE_TABLE, row)
    read_before = store.entities_read
    run = run_sweep(deps(store, queue, clock))
    assert store.entities_read - read_before <= 3  # the due row (+ checkpoint/lease rows), never b-later
    assert reconciles(queue) == [("b-due", due_now["RowKey"])]
    assert [m["revision"] for m in queue.on("meetings")] == [3]
    assert run.due == 1 and run.enqueued == 1
    run_sweep(deps(store, queue, clock))  # claimed moments ago: left to the worker
    assert len(reconciles(queue)) == 1
    clock.advance(minutes=11)  # the message was lost: sent again; b-later is due by now too
    run_sweep(deps(store, queue, clock))
    assert sorted(b for b, _ in reconciles(queue)) == ["b-due", "b-due", "b-later"]


def test_a_malformed_due_row_is_removed_and_schedule_drop_round_trip() -> None:
    store, queue, clock = InMemoryEntityStore(), InMemoryMessageQueue(), FixedClock()
    store.upsert(rc.DUE_TABLE, {"PartitionKey": rc.DUE_PK, "RowKey": "2000-01-01T00:00:00Z|bad"})
    booking = add_booking(InMemoryEntityStore(), "ws1", "h1", clock.now() + timedelta(days=1), id="b1", revision=2)
    reconcile.schedule(store, booking, "2026-11-23T07:59:00Z")
    result = reconcile.enqueue_due(store, queue, clock.now(), reenqueue_after=timedelta(minutes=10))
    assert result.dropped == 1 and result.enqueued == 1
    assert [r["RowKey"] for r in store.query(rc.DUE_TABLE, rc.DUE_PK)] == ["2026-11-23T07:59:00Z|ws1|h1|b1"]
    reconcile.drop(store, ["2026-11-23T07:59:00Z|ws1|h1|b1", None])
    assert list(store.query(rc.DUE_TABLE, rc.DUE_PK)) == []
