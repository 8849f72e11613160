"""The meeting worker with its real storage adapters on Azurite, Graph mocked with ``responses``.

Most tests call the queue functions in-process (like the host does, with ``dequeue_count``) against the
session's Azurite. The queue-semantics tests use a private Azurite and, where stated, the local
Functions host (``devhost``): real visibility delays, redelivery, ``maxDequeueCount`` and ``-poison``.
"""
from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest

from shared.domain import meeting_plan
from shared.errors import StorageUnavailable
from tests.integration.meetings.conftest import queue_client, receive_mine
from tests.unit.meetings.helpers import OTHER_OID, Harness

CREATE_OR_GET = r"/me/onlineMeetings/createOrGet"
ANY_EVENT_CREATE = r"(?:/me/events|/me/calendars/[^/]+/events)"


def comms_on_azurite(h: Harness, booking_id: str) -> list[tuple[str, int]]:
    """The communications messages of a booking as they sit in the Azurite queue.

    The session's queue also holds other tests' messages: every page is scanned (kept invisible while
    scanning so no message is seen twice), then everything is made visible again.
    """
    client = queue_client(h.connection_string, "communications")  # type: ignore[attr-defined]
    found, scanned = [], []
    while True:
        page = list(client.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=30))
        if not page:
            break
        for stored in page:
            scanned.append(stored)
            body = json.loads(base64.b64decode(stored.content))
            if body.get("workspace") == h.ws and body.get("booking_id") == booking_id:
                found.append((body["kind"], body["revision"]))
    for stored in scanned:
        client.update_message(stored, visibility_timeout=0)
    return sorted(found)


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)  # the test waits; the code under test never sleeps
    raise AssertionError("condition not reached in time")


# ===================================================================== in-process, session Azurite
def test_same_account_one_graph_request_and_the_link_stored_on_azurite(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar", linked_calendar_id="AAMkCal==")
    b = h.add_booking()
    h.deliver(h.message(b))
    assert len(h.graph.requests) == 1
    body = h.graph.requests[0].body
    assert body["isOnlineMeeting"] is True and body["onlineMeetingProvider"] == "teamsForBusiness"
    assert body["transactionId"] == meeting_plan.transaction_id(h.ws, b["id"])
    stored = h.booking(b["id"])
    event = next(iter(h.graph.events.values()))
    assert stored["meeting_url"] == event["onlineMeeting"]["joinUrl"]
    assert stored["graph_event_id"] == event["id"] and stored["link_state"] == "created"
    assert stored["graph_synced_revision"] == 1 and stored["event_carries_link"] is True
    assert comms_on_azurite(h, b["id"]) == [("confirmation", 1)]


def test_teams_only_on_azurite(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar", oid=OTHER_OID)
    b = h.add_booking()
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    meeting = next(iter(h.graph.meetings.values()))
    assert stored["meeting_url"] == meeting["joinWebUrl"] and stored["online_meeting_id"] == meeting["id"]
    assert stored["graph_event_id"] and stored["invitation_channel"] == "ics"


class CrashingStore:
    def __init__(self, inner: Any) -> None:
        self._inner, self.crashed = inner, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def update(self, table: str, entity: dict, etag: str | None = None, *, merge: bool = False) -> str:
        if table == "schedule" and not self.crashed:
            self.crashed = True
            raise StorageUnavailable("simulated crash after the Graph call, before the state write")
        return self._inner.update(table, entity, etag, merge=merge)


def test_three_deliveries_and_a_crash_one_meeting_one_link_one_message(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar")
    b = h.add_booking()
    msg = h.message(b)
    h.container.store = CrashingStore(h.store)
    with pytest.raises(StorageUnavailable):
        h.deliver(msg, dequeue_count=1)
    for n in (2, 3, 4):
        h.deliver(msg, dequeue_count=n)
    assert len(h.graph.events) == 1
    assert len(h.graph.calls("POST", ANY_EVENT_CREATE)) == 2  # the crashed attempt and its retry, same transactionId
    assert h.booking(b["id"])["meeting_url"] == next(iter(h.graph.events.values()))["onlineMeeting"]["joinUrl"]
    assert comms_on_azurite(h, b["id"]) == [("confirmation", 1)]


def test_reschedule_then_cancel_on_azurite(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar")
    b = h.add_booking()
    h.deliver(h.message(b))
    link = h.booking(b["id"])["meeting_url"]
    moved = h.change_booking(b["id"], start_utc="2026-11-26T13:00:00Z", end_utc="2026-11-26T13:30:00Z")
    h.deliver(h.message(moved, "reschedule"))
    patch = h.graph.calls("PATCH", r"/me/events/.+")[0]
    assert patch.body["start"] == {"dateTime": "2026-11-26T14:00:00", "timeZone": "W. Europe Standard Time"}
    assert h.booking(b["id"])["meeting_url"] == link
    cancelled = h.change_booking(b["id"], status="cancelled")
    h.graph.fail("POST", r"/me/events/.+/cancel", 404)
    h.deliver(h.message(cancelled, "cancel"))
    assert h.booking(b["id"])["graph_cancelled"] is True


def test_invalid_grant_awaiting_connection_and_backfill_row_on_azurite(h: Harness) -> None:
    from tests.unit.meetings.helpers import invalid_grant

    h.connect("teams")
    h.tokens.fail["teams"] = invalid_grant()
    b = h.add_booking()
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "awaiting_connection"
    rows = list(h.store.query("backfillindex", f"{h.ws}|{h.host}"))
    assert [r["RowKey"] for r in rows] == [f"{b['start_utc']}|{b['id']}"]
    assert comms_on_azurite(h, b["id"]) == [("confirmation", 1), ("host_notice", 1)]


def test_403_and_poison_on_azurite(h: Harness) -> None:
    h.connect("teams")
    h.graph.fail("POST", CREATE_OR_GET, 403)
    b1 = h.add_booking()
    h.deliver(h.message(b1))
    assert h.booking(b1["id"])["link_state"] == "failed"
    assert h.store.get("connections", f"{h.ws}|{h.host}", "teams")["teams_unavailable"] is True
    b2 = h.add_booking()
    h.deliver_poison(h.message(b2))
    stored = h.booking(b2["id"])
    assert stored["link_state"] == "retrying" and "(5 attempts)" in stored["link_reason"]
    assert b2["id"] in [r["booking_id"] for r in h.store.query("reconciledue", "due")]


# ===================================================================== queue semantics, private Azurite
def test_429_retry_after_7_the_copy_is_not_visible_right_away(hp: Harness) -> None:
    hp.connect("teams")
    hp.graph.fail("POST", CREATE_OR_GET, 429, headers={"Retry-After": "7"})
    b = hp.add_booking()
    client = queue_client(hp.connection_string, "meetings")  # type: ignore[attr-defined]
    before = client.get_queue_properties().approximate_message_count
    started = time.monotonic()
    hp.deliver(hp.message(b))
    assert time.monotonic() - started < 2  # no sleeping
    requeued = [(m.visibility_timeout, m.message.get("attempt")) for m in hp.queue.sent if m.queue == "meetings"]
    assert requeued == [(7, 2)]
    assert client.get_queue_properties().approximate_message_count == before + 1  # it is there ...
    assert receive_mine(client, hp.ws) == []                                       # ... but not visible
    assert hp.booking(b["id"])["link_state"] == "pending"


def test_429_then_success_through_the_real_queue(hp: Harness) -> None:
    hp.connect("teams")
    hp.graph.fail("POST", CREATE_OR_GET, 429, headers={"Retry-After": "2"})
    b = hp.add_booking()
    client = queue_client(hp.connection_string, "meetings")  # type: ignore[attr-defined]
    hp.deliver(hp.message(b))
    sent_at = time.monotonic()
    assert receive_mine(client, hp.ws) == []
    (stored, body), = wait_for(lambda: receive_mine(client, hp.ws), timeout=10)
    assert time.monotonic() - sent_at >= 1.0
    assert body == {**hp.message(b), "attempt": 2}
    hp.deliver(body, dequeue_count=stored.dequeue_count)
    client.delete_message(stored)
    assert hp.booking(b["id"])["link_state"] == "created" and len(hp.graph.meetings) == 1


@pytest.fixture
def devhost(hp: Harness) -> Any:
    """The local Functions host running only the meeting worker's blueprint, on the private Azurite."""
    import azure.functions as func

    from devhost.functions_host import FunctionsHost
    from functions import meetings_worker

    app = func.FunctionApp()
    app.register_functions(meetings_worker.bp)
    host_json = {"version": "2.0", "extensions": {"queues": {
        "batchSize": 4, "newBatchThreshold": 2, "maxPollingInterval": "00:00:00.200",
        "visibilityTimeout": "00:00:00", "maxDequeueCount": 3, "messageEncoding": "base64"}}}
    settings = {"AzureWebJobsStorage": hp.connection_string, "FUNCTIONS_WORKER_RUNTIME": "python"}  # type: ignore[attr-defined]
    host = FunctionsHost(app, settings=settings, host_json=host_json, port=0)
    host.start()
    try:
        yield host
    finally:
        host.stop()


def test_through_devhost_throttled_copy_is_picked_up_later_and_succeeds(hp: Harness, devhost: Any) -> None:
    hp.connect("teams")
    hp.graph.fail("POST", CREATE_OR_GET, 429, headers={"Retry-After": "1"})
    b = hp.add_booking()
    hp.queue.inner.send("meetings", hp.message(b))
    stored = wait_for(lambda: (lambda s: s if s.get("link_state") == "created" and not s.get("pending_notices")
                               else None)(hp.booking(b["id"])))
    assert stored["meeting_url"] == next(iter(hp.graph.meetings.values()))["joinWebUrl"]
    assert len(hp.graph.calls("POST", CREATE_OR_GET)) == 2
    assert [m.message.get("attempt") for m in hp.queue.sent if m.queue == "meetings"] == [2]


def test_through_devhost_failing_graph_ends_in_poison_and_the_booking_is_retrying(hp: Harness, devhost: Any) -> None:
    hp.connect("teams")
    hp.graph.fail("POST", CREATE_OR_GET, 500, times=100)
    b = hp.add_booking()
    hp.queue.inner.send("meetings", hp.message(b))
    # retrying is stored together with its outbox; the messages go out right after (wait for both)
    stored = wait_for(lambda: (lambda s: s if s.get("link_state") == "retrying" and not s.get("pending_notices")
                               else None)(hp.booking(b["id"])))
    assert stored["link_reason"].startswith("Microsoft 365 or storage did not answer") and stored["next_attempt_at"]
    # maxDequeueCount deliveries, then meetings-poison (the host's timer sweep may already be retrying it)
    assert len(hp.graph.calls("POST", CREATE_OR_GET)) >= 3
    assert [m.message["kind"] for m in hp.queue.sent if m.queue == "communications"] == ["confirmation"]
