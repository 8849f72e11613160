"""Fixtures of the meeting worker's integration tests: Azurite storage, Graph on ``responses``."""
from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from tests.fakes import FixedClock, SentMessage
from tests.graph_contract_check import check_calls
from tests.unit.meetings.fakes import GRAPH_BASE
from tests.unit.meetings.helpers import Harness


class RecordingQueue:
    """The real ``StorageMessageQueue`` (Azurite), remembering what was sent for assertions."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sent: list[SentMessage] = []

    def send(self, queue: str, message: dict[str, Any], *, visibility_timeout: int = 0) -> None:
        self.inner.send(queue, message, visibility_timeout=visibility_timeout)
        self.sent.append(SentMessage(queue, json.loads(json.dumps(message)), visibility_timeout))

    def on(self, queue: str) -> list[dict[str, Any]]:
        return [m.message for m in self.sent if m.queue == queue]


def azure_ports(connection_string: str) -> tuple[Any, Any]:
    """``TableEntityStore`` and ``StorageMessageQueue`` on a storage account."""
    from azure.data.tables import TableServiceClient
    from azure.storage.queue import QueueServiceClient

    from shared.adapters.queue_store import StorageMessageQueue
    from shared.adapters.table_store import TableEntityStore

    return (TableEntityStore(TableServiceClient.from_connection_string(connection_string)),
            StorageMessageQueue(QueueServiceClient.from_connection_string(connection_string)))


def queue_client(connection_string: str, name: str) -> Any:
    """A raw queue client (the test's view of the queue, base64 JSON like the host)."""
    from azure.storage.queue import QueueClient

    client = QueueClient.from_connection_string(connection_string, name)
    try:
        client.create_queue()
    except Exception:  # noqa: BLE001 - exists
        pass
    return client


def receive_mine(client: Any, workspace: str, *, visibility_timeout: int = 30) -> list[tuple[Any, dict]]:
    """Visible messages of ``workspace`` (others' are released at once)."""
    mine = []
    for stored in client.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=visibility_timeout):
        body = json.loads(base64.b64decode(stored.content))
        if body.get("workspace") == workspace:
            mine.append((stored, body))
        else:
            client.update_message(stored, visibility_timeout=0)
    return mine


@pytest.fixture
def graph_mock() -> Iterator[responses.RequestsMock]:
    """``responses`` for Graph (Azurite passes through); every Graph body is contract-checked at the end."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru("http://127.0.0.1")
        rsps.add_passthru("http://localhost")
        yield rsps
        problems = check_calls(rsps.calls, GRAPH_BASE)
    assert problems == [], "Graph bodies outside the contract subset:\n" + "\n".join(problems)


@pytest.fixture
def h(graph_mock: responses.RequestsMock, storage_connection_string: str) -> Iterator[Harness]:
    """The harness on the session's Azurite."""
    store, queue = azure_ports(storage_connection_string)
    harness = Harness(store, RecordingQueue(queue), FixedClock(), graph_mock)
    harness.connection_string = storage_connection_string  # type: ignore[attr-defined]
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture(scope="module")
def private_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An Azurite of this module only (free ports): its ``meetings`` queue holds nobody else's messages."""
    import os

    from devhost.azurite import start_azurite

    if os.environ.get("BOOKBRIDGE_TEST_STORAGE"):
        pytest.skip("queue-semantics tests need their own Azurite")
    instance = start_azurite(tmp_path_factory.mktemp("azurite-meetings"))
    try:
        yield instance.connection_string
    finally:
        instance.stop()


@pytest.fixture
def hp(graph_mock: responses.RequestsMock, private_storage: str) -> Iterator[Harness]:
    """The harness on the module's private Azurite."""
    store, queue = azure_ports(private_storage)
    harness = Harness(store, RecordingQueue(queue), FixedClock(), graph_mock)
    harness.connection_string = private_storage  # type: ignore[attr-defined]
    try:
        yield harness
    finally:
        harness.close()
