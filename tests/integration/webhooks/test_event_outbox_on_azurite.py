"""Issue 18's "at least once" on real storage: a queue service that does not answer (a closed port) leaves the
event in the ``webhookoutbox`` table on Azurite; the outbox timer, run by the local Functions host, puts it on
the real ``webhookevents`` queue (base64 JSON, as the fan-out reads it)."""
from __future__ import annotations

import json
import secrets
import socket

import azure.functions as func
import pytest

from shared import bootstrap
from shared.repositories import webhooks as repo
from shared.settings import Settings
from shared.usecases.webhooks import EVENTS_QUEUE, booking_event
from tests.integration.webhooks.helpers import take_messages


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_event_kept_while_the_queue_was_down_is_queued_by_the_timer(storage_connection_string: str) -> None:
    from azure.data.tables import TableServiceClient
    from azure.storage.queue import QueueServiceClient

    from devhost.azurite import connection_string
    from devhost.functions_host import FunctionsHost
    from functions import webhooks as webhook_functions
    from shared.adapters.queue_store import StorageMessageQueue
    from shared.adapters.table_store import TableEntityStore
    from shared.errors import StorageUnavailable

    conn = storage_connection_string
    store = TableEntityStore(TableServiceClient.from_connection_string(conn))
    dead_port = _closed_port()
    down = StorageMessageQueue(QueueServiceClient.from_connection_string(
        connection_string(dead_port, dead_port, dead_port), retry_total=0, connection_timeout=2))
    with pytest.raises(StorageUnavailable):
        down.send(EVENTS_QUEUE, {"probe": True})
    ws = f"ob{secrets.token_hex(4)}"
    booking_event(down, "booking.cancelled", ws, "alice", "d" * 32, 2, store=store)
    kept = [json.loads(r["message_json"]) for r in store.query(repo.OUTBOX, repo.OUTBOX_PK)]
    mine = [k for k in kept if k["workspace"] == ws]
    assert [k["type"] for k in mine] == ["booking.cancelled"]

    up = StorageMessageQueue(QueueServiceClient.from_connection_string(conn))
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    app.register_functions(webhook_functions.bp)
    bootstrap.install(bootstrap.Container(settings=Settings({"AzureWebJobsStorage": conn}), store=store, queue=up))
    host = FunctionsHost(app, settings={"AzureWebJobsStorage": conn}, port=0)
    try:
        assert host.errors == {} and "webhooks_outbox_timer" in host.functions
        assert host.run_timer_now("webhooks_outbox_timer").ok
    finally:
        host.stop()
        bootstrap.install(None)
    assert take_messages(conn, EVENTS_QUEUE, ws) == mine
    left = [json.loads(r["message_json"]) for r in store.query(repo.OUTBOX, repo.OUTBOX_PK)]
    assert [k for k in left if k["workspace"] == ws] == []
