"""Webhooks on real Table and Queue storage (Azurite): the repository's rows and order, the queues' messages
(base64 JSON as the host reads them, a retry invisible for its delay), the worker idempotent; the receiver is
``responses``."""
from __future__ import annotations

import json
import re
import secrets
from typing import Any

import pytest
import responses

from shared.adapters.token_cipher import TokenCipher
from shared.repositories import webhooks as repo
from shared.repositories.workspaces import put_workspace
from shared.usecases import booking_events, webhooks
from shared.usecases.webhooks import DELIVERIES_QUEUE, EVENTS_QUEUE, WebhookDeps
from tests.fakes import FixedClock
from tests.integration.webhooks.helpers import take_messages
from tests.unit.webhooks.helpers import RECEIVER, SECRET, Resolving


@pytest.fixture(scope="module")
def ports(storage_connection_string: str) -> tuple[Any, Any, str]:
    from azure.data.tables import TableServiceClient
    from azure.storage.queue import QueueServiceClient

    from shared.adapters.queue_store import StorageMessageQueue
    from shared.adapters.table_store import TableEntityStore

    return (TableEntityStore(TableServiceClient.from_connection_string(storage_connection_string)),
            StorageMessageQueue(QueueServiceClient.from_connection_string(storage_connection_string)),
            storage_connection_string)


@responses.activate
def test_an_event_is_fanned_out_delivered_once_and_a_failing_one_retried_later(ports: tuple[Any, Any, str]) -> None:
    store, queue, conn = ports
    responses.add_passthru(re.compile(r"http://(127\.0\.0\.1|localhost)[:/]"))  # Azurite itself
    ws = f"wh-{secrets.token_hex(4)}"
    put_workspace(store, ws, "Hooks", "2026-11-23T08:00:00Z")
    deps = WebhookDeps(store=store, queue=queue, clock=FixedClock(), cipher=TokenCipher([TokenCipher.generate_key()]),
                       transport=Resolving())
    webhooks.put_webhook(deps, ws, "ok", RECEIVER, ["booking.cancelled"], SECRET)
    webhooks.put_webhook(deps, ws, "down", RECEIVER + "/down", ["booking.cancelled"], SECRET)
    stored = store.get(repo.WEBHOOKS, ws, "ok")
    assert SECRET not in json.dumps(stored) and deps.cipher.decrypt(stored["secret"]) == SECRET
    responses.post(RECEIVER, status=200)
    responses.post(RECEIVER + "/down", status=503)

    booking_events.booking_cancelled(queue, ws, "alice", "c" * 32, 1)
    events = take_messages(conn, EVENTS_QUEUE, ws)
    assert [e["type"] for e in events] == ["booking.cancelled"]
    assert webhooks.handle_event_message(deps, events[0]) == "fanned out to 2"
    deliveries = sorted(take_messages(conn, DELIVERIES_QUEUE, ws), key=lambda m: m["webhook"])
    assert [d["webhook"] for d in deliveries] == ["down", "ok"]
    assert len({d["delivery"] for d in deliveries}) == 2

    assert webhooks.handle_delivery_message(deps, deliveries[1]) == "delivered"
    assert webhooks.handle_delivery_message(deps, deliveries[1]) == "already delivered"  # redelivered message
    assert webhooks.handle_delivery_message(deps, deliveries[0]) == "retrying"
    assert len(responses.calls) == 2
    assert take_messages(conn, DELIVERIES_QUEUE, ws) == []  # the retry is invisible for its back-off delay
    deps.clock.advance(seconds=30)  # type: ignore[attr-defined]
    assert webhooks.handle_delivery_message(deps, {**deliveries[0], "attempt": 2}) == "retrying"

    listed = webhooks.list_deliveries(deps, ws, "down")["deliveries"]
    assert [(d["attempt"], d["status_code"], d["outcome"]) for d in listed] == [
        (2, 503, "retrying"), (1, 503, "retrying")]  # newest first (the table's RowKey order)
    hook = repo.get_webhook(store, ws, "down")
    assert hook is not None
    row = repo.get_delivery(store, hook, deliveries[0]["delivery"])
    assert row is not None and row["status"] == "pending" and row["attempts"] == 2
    webhooks.delete_webhook(deps, ws, "down")
    assert webhooks.handle_delivery_message(deps, {**deliveries[0], "attempt": 3}) == "webhook deleted"
