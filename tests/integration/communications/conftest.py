"""Fixtures of the communications integration tests: tables and queues on Azurite, the real loopback
SMTP server (SmtpSink on a free port), and a pump that delivers queue messages to the blueprint's
function the way the Functions host does (delete on success)."""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.functions.queue import QueueMessage

from devhost.smtp_sink import SmtpSink
from shared.bootstrap import Container, install
from shared.mail.smtp_transport import SmtpTransport
from shared.settings import Settings
from tests.fakes import FixedClock
from tests.unit.communications.helpers import SIGNING_KEY

SENDER = "Bookings <bookings@bookbridge.test>"
BASE_URL = "https://book.example.test"
HARNESS_NOW = datetime(2031, 3, 4, 16, 52, tzinfo=UTC)


def user_function(fn: Any) -> Any:
    """The plain function behind a Blueprint-decorated handler."""
    return fn.build().get_user_function() if hasattr(fn, "build") else fn


class RenamedQueues:
    """``MessageQueue`` over Azurite that gives this test its own queues (``{name}-{suffix}``) and
    remembers every send (with its visibility delay)."""

    def __init__(self, inner: Any, suffix: str) -> None:
        self.inner, self.suffix = inner, suffix
        self.sent: list[tuple[str, dict[str, Any], int]] = []

    def name(self, queue: str) -> str:
        return f"{queue}-{self.suffix}"

    def send(self, queue: str, message: dict[str, Any], *, visibility_timeout: int = 0) -> None:
        self.sent.append((queue, json.loads(json.dumps(message)), visibility_timeout))
        self.inner.send(self.name(queue), message, visibility_timeout=visibility_timeout)

    def on(self, queue: str) -> list[tuple[dict[str, Any], int]]:
        return [(m, v) for q, m, v in self.sent if q == queue]


class Harness:
    """One installed container (Azurite + SmtpSink + a test clock) and a host-like pump."""

    def __init__(self, conn: str, sink: SmtpSink) -> None:
        from azure.data.tables import TableServiceClient
        from azure.storage.queue import QueueServiceClient

        from shared.adapters.queue_store import StorageMessageQueue
        from shared.adapters.table_store import TableEntityStore

        self.conn, self.sink = conn, sink
        self.store = TableEntityStore(TableServiceClient.from_connection_string(conn))
        self.queue = RenamedQueues(StorageMessageQueue(QueueServiceClient.from_connection_string(conn)),
                                   uuid.uuid4().hex[:10])
        # A fixed instant: subjects and bodies format dates, so their length must not depend on today.
        self.clock = FixedClock(HARNESS_NOW)
        self.mail = SmtpTransport("127.0.0.1", sink.port, sender=SENDER, timeout=10)
        env = {"LINK_SIGNING_KEY": SIGNING_KEY, "PUBLIC_BASE_URL": BASE_URL, "MAIL_FROM": SENDER,
               "AzureWebJobsStorage": conn}
        self.container = Container(settings=Settings(env), store=self.store, queue=self.queue, clock=self.clock,
                                   mail=self.mail)
        install(self.container)

    def send_raw(self, queue: str, message: dict[str, Any]) -> None:
        """Put a message on the (renamed) queue, visible at once, without recording it."""
        self.queue.inner.send(self.queue.name(queue), message)

    def pump(self, queue: str = "communications", *, limit: int = 50) -> list[dict[str, Any]]:
        """Deliver every visible message to the queue's function; returns the bodies delivered."""
        from azure.storage.queue import BinaryBase64DecodePolicy, QueueClient

        from functions import communications_worker

        fn = user_function(communications_worker.communications_worker if queue == "communications"
                           else communications_worker.communications_poison)
        delivered: list[dict[str, Any]] = []
        with QueueClient.from_connection_string(self.conn, self.queue.name(queue),
                                                message_decode_policy=BinaryBase64DecodePolicy()) as client:
            for _ in range(limit):
                batch = list(client.receive_messages(max_messages=16, visibility_timeout=60))
                if not batch:
                    return delivered
                for stored in batch:
                    body = bytes(stored.content)
                    msg = QueueMessage(id=stored.id, body=body, dequeue_count=stored.dequeue_count)
                    fn(msg)  # raising would leave the message for a retry: the test fails loudly
                    client.delete_message(stored)
                    delivered.append(json.loads(body))
        raise AssertionError("the queue did not drain")

    def close(self) -> None:
        install(None)


@pytest.fixture()
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    server = SmtpSink(tmp_path / "outbox", port=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def harness(storage_connection_string: str, sink: SmtpSink) -> Iterator[Harness]:
    h = Harness(storage_connection_string, sink)
    try:
        yield h
    finally:
        h.close()
