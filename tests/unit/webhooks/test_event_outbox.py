"""Issue 18's "at least once" through a queue outage: an event the queue does not take is kept in the
``webhookoutbox`` table and queued by the outbox timer once the queue answers again (same event id: one
delivery per webhook however often it is kept or queued)."""
from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from shared.errors import StorageUnavailable
from shared.repositories import webhooks as repo
from shared.usecases import booking_events, webhooks
from shared.usecases.webhooks import EVENTS_QUEUE
from tests.fakes import InMemoryMessageQueue
from tests.unit.booking.test_stranded import QueueDown
from tests.unit.webhooks.helpers import RECEIVER, SECRET, make_deps


def outbox(store: Any) -> list[dict[str, Any]]:
    return [json.loads(r["message_json"]) for r in store.query(repo.OUTBOX, repo.OUTBOX_PK)]


def test_an_event_the_queue_refuses_is_kept_then_queued_once_it_answers() -> None:
    deps = make_deps()
    webhooks.put_webhook(deps, "acme", "crm", RECEIVER, ["booking.cancelled"], SECRET)
    queue = QueueDown(InMemoryMessageQueue())
    queue.down = True
    for _ in range(2):  # a redelivered message emits the same change again: still one kept event
        webhooks.booking_event(queue, "booking.cancelled", "acme", "alice", "b" * 32, 3, store=deps.store)
    [kept] = outbox(deps.store)
    assert kept["type"] == "booking.cancelled" and kept["booking"] == {"host": "alice", "id": "b" * 32}

    assert webhooks.drain_event_outbox(deps.store, queue) == 0  # still down: nothing lost, nothing sent
    assert outbox(deps.store) == [kept] and queue.inner.sent == []
    queue.down = False
    assert webhooks.drain_event_outbox(deps.store, queue) == 1
    assert queue.inner.on(EVENTS_QUEUE) == [kept] and outbox(deps.store) == []
    assert webhooks.drain_event_outbox(deps.store, queue) == 0
    deps.queue = queue.inner
    assert webhooks.handle_event_message(deps, kept) == "fanned out to 1"


def test_with_table_storage_down_too_the_caller_still_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    class StoreDown:
        def upsert(self, table: str, entity: dict[str, Any]) -> str:
            raise StorageUnavailable("table service unreachable")

    queue = QueueDown(InMemoryMessageQueue())
    queue.down = True
    with caplog.at_level(logging.WARNING, logger="bookbridge.webhooks"):
        webhooks.booking_event(queue, "booking.created", "acme", "alice", "b" * 32, 0,
                               store=StoreDown())  # type: ignore[arg-type]
    assert "not queued" in caplog.text and "outbox StorageUnavailable" in caplog.text


def test_a_kept_row_that_is_not_an_event_is_dropped() -> None:
    deps = make_deps()
    deps.store.upsert(repo.OUTBOX, {"PartitionKey": repo.OUTBOX_PK, "RowKey": "evt_x", "message_json": "{"})
    assert webhooks.drain_event_outbox(deps.store, deps.queue) == 0
    assert outbox(deps.store) == [] and deps.queue.sent == []  # type: ignore[attr-defined]


def test_the_reschedule_and_cancel_messages_put_the_event_first() -> None:
    deps = make_deps()
    queue = QueueDown(InMemoryMessageQueue())
    queue.down = True
    with pytest.raises(StorageUnavailable):
        booking_events.booking_rescheduled(queue, "acme", "alice", "b" * 32, 2, "created", store=deps.store)
    with pytest.raises(StorageUnavailable):
        booking_events.booking_cancelled(queue, "acme", "alice", "b" * 32, 3, store=deps.store)
    assert sorted(e["type"] for e in outbox(deps.store)) == ["booking.cancelled", "booking.rescheduled"]


def test_the_outbox_timer_runs_every_two_minutes_and_is_registered() -> None:
    from functions import webhooks as webhook_functions
    from tests.app_index import indexed_functions

    trigger = webhook_functions.webhooks_outbox_timer.build().get_trigger().get_dict_repr()
    assert trigger["schedule"] == "30 */2 * * * *" and trigger["runOnStartup"] is False
    assert indexed_functions()["webhooks_outbox_timer"]["type"] == "timerTrigger"
