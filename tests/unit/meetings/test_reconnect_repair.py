"""Issue 15 (rule 16, 17): a broken calendar token is a sync error, never a silent downgrade, and a
reconnect of any kind repairs the host's bookings at once; a manual repair reconciles one booking now."""
from __future__ import annotations

import json
from typing import Any

from shared.domain import reconcile as rc
from shared.usecases import meetings
from tests.unit.booking.helpers import request
from tests.unit.meetings.helpers import Harness, invalid_grant

CREATE_OR_GET = r"/me/onlineMeetings/createOrGet"


def deliver_all(h: Harness, start: int = 0) -> list[dict[str, Any]]:
    """Deliver every ``meetings`` message sent since index ``start``."""
    sent = h.queue.on("meetings")[start:]
    for body in sent:
        h.deliver(body)
    return sent


def reconnected(h: Harness, kind: str) -> None:
    """The ``backfill`` message a reconnect of ``kind`` sends, through its queue function."""
    from functions import backfill_sweep

    body = {"workspace": h.ws, "host": h.host, "reason": "reconnected", "kind": kind}
    backfill_sweep.backfill_host(h.queue_message(body))


def test_a_broken_calendar_token_is_a_sync_error_and_a_calendar_reconnect_writes_the_event(h: Harness) -> None:
    h.connect("teams")
    h.connect("microsoft_calendar")
    h.tokens.fail["microsoft_calendar"] = invalid_grant()
    b = h.add_booking()
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created" and not stored.get("graph_event_id")
    assert stored["graph_sync_error"] == meetings.reasons.REASON_CALENDAR_RECONNECT  # shown, not silent
    del h.tokens.fail["microsoft_calendar"]  # the host reconnects the calendar
    before = len(h.queue.on("meetings"))
    reconnected(h, "microsoft_calendar")
    sent = deliver_all(h, before)
    assert [(m["op"], m["booking_id"]) for m in sent] == [("reconcile", b["id"])]
    stored = h.booking(b["id"])
    assert stored["graph_event_id"] and stored["event_carries_link"] is True
    assert not stored.get("graph_sync_error")
    event = h.graph.events[stored["graph_event_id"]]
    assert event["location"]["locationUri"] == stored["meeting_url"]  # the same link, in the host's calendar
    assert len(h.graph.calls("POST", CREATE_OR_GET)) == 1  # the meeting was not made twice
    before = len(h.queue.on("meetings"))
    reconnected(h, "microsoft_calendar")  # converged: nothing is sent again
    assert h.queue.on("meetings")[before:] == []


def test_a_manual_repair_retries_a_failed_booking_once_its_cause_is_fixed(h: Harness) -> None:
    from functions import booking_admin

    h.store.upsert("workspaces", {"PartitionKey": h.ws, "RowKey": "workspace", "name": "W"})
    h.store.upsert("users", {"PartitionKey": h.ws, "RowKey": h.host, "name": "Host", "email": "h@x.example",
                             "timezone": "UTC"})
    h.connect("teams")
    h.graph.fail("POST", CREATE_OR_GET, 403, code="Forbidden")
    b = h.add_booking()
    h.deliver(h.message(b))
    assert h.booking(b["id"])["link_state"] == "failed"
    r = request(booking_admin.management_booking_repair, "POST", {"workspace": h.ws, "id": b["id"]})
    assert r.status == 200, r.body
    assert r.body["link_status"] == "created" and r.body["meeting_url"]
    assert r.body["history"] and r.body["history"][-1]["state"] == "created"
    assert ("link_update", 1) in [(m["kind"], m["revision"]) for m in h.queue.on("communications")]
    assert request(booking_admin.management_booking_repair, "POST",
                   {"workspace": h.ws, "id": "0" * 32}).status == 404


def test_a_repair_during_an_outage_leaves_the_booking_retrying(h: Harness) -> None:
    from functions import booking_admin

    h.store.upsert("workspaces", {"PartitionKey": h.ws, "RowKey": "workspace", "name": "W"})
    h.store.upsert("users", {"PartitionKey": h.ws, "RowKey": h.host, "name": "Host", "email": "h@x.example",
                             "timezone": "UTC"})
    h.connect("teams")
    h.graph.fail("POST", CREATE_OR_GET, 500)
    b = h.add_booking()
    r = request(booking_admin.management_booking_repair, "POST", {"workspace": h.ws, "id": b["id"]})
    assert r.status == 200 and r.body["link_status"] == "retrying" and r.body["next_attempt_at"]
    assert [e["booking_id"] for e in h.store.query(rc.DUE_TABLE, rc.DUE_PK)] == [b["id"]]
    assert json.loads(h.booking(b["id"])["history_json"])[-1]["state"] == "retrying"
