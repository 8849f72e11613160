"""Fixtures of the backfill sweep's integration tests.

Everything real but Microsoft: tables and queues on Azurite, the booking and management handlers, the
connections use case (MSAL against ``FakeMicrosoft`` on ``responses``), the timer / queue functions of
the blueprints called in-process like the host calls them, Graph answered by ``FakeGraph`` (contract
checked), mail through the loopback SMTP server (SmtpSink). No fixed ports.

The sweep's own tables are global (checkpoint, lease, host index, transition log), so the module gets an
Azurite of its own and every test starts with those tables empty; each test also gets its own queues
(``{name}-{suffix}``) so the pump sees nothing of anyone else.
"""
from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from devhost.smtp_sink import SmtpSink
from shared.adapters.graph_client import GraphClient
from shared.adapters.signing import Signer
from shared.adapters.token_cipher import TokenCipher
from shared.bootstrap import Container, install
from shared.mail.smtp_transport import SmtpTransport
from shared.settings import Settings
from shared.usecases.connections import ConnectionDeps
from tests.fakes import FixedClock
from tests.graph_contract_check import check_calls
from tests.unit.booking.helpers import Resp, calendar_body, member, request, user_function
from tests.unit.connections.helpers import FakeMicrosoft, connect, make_identity
from tests.unit.meetings.fakes import GRAPH_BASE, FakeGraph

SIGNING_KEY = "backfill-integration-signing-key-0123456789"
SENDER = "Bookings <bookings@bookbridge.test>"
PUBLIC_BASE = "https://book.example.test"
GLOBAL_TABLES = {"sweepstate": None, "backfillhosts": "hosts", "connectiontransitions": "teams"}


def azure_store(connection_string: str) -> Any:
    from azure.data.tables import TableServiceClient

    from shared.adapters.table_store import TableEntityStore

    return TableEntityStore(TableServiceClient.from_connection_string(connection_string))


def reset_sweep_tables(connection_string: str) -> None:
    """Drop the sweep's global tables' rows (a fresh deployment as far as the sweep can tell)."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import TableServiceClient

    service = TableServiceClient.from_connection_string(connection_string)
    for table in GLOBAL_TABLES:
        client = service.get_table_client(table)
        try:
            for e in list(client.list_entities(select=["PartitionKey", "RowKey"])):
                client.delete_entity(e["PartitionKey"], e["RowKey"])
        except ResourceNotFoundError:
            pass


class RenamedQueues:
    """``MessageQueue`` over Azurite giving the test its own queues (``{name}-{suffix}``); remembers sends."""

    def __init__(self, inner: Any, suffix: str) -> None:
        self.inner, self.suffix = inner, suffix
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def name(self, queue: str) -> str:
        return f"{queue}-{self.suffix}"

    def send(self, queue: str, message: dict[str, Any], *, visibility_timeout: int = 0) -> None:
        self.sent.append((queue, json.loads(json.dumps(message))))
        self.inner.send(self.name(queue), message, visibility_timeout=visibility_timeout)

    def on(self, queue: str) -> list[dict[str, Any]]:
        return [m for q, m in self.sent if q == queue]


class World:
    """One installed container on the module's Azurite, Microsoft on ``responses``, a SmtpSink, a clock."""

    def __init__(self, conn: str, rsps: responses.RequestsMock, sink: SmtpSink) -> None:
        from azure.storage.queue import QueueServiceClient

        from shared.adapters.queue_store import StorageMessageQueue

        self.conn, self.sink = conn, sink
        self.store = azure_store(conn)
        self.queue = RenamedQueues(StorageMessageQueue(QueueServiceClient.from_connection_string(conn)),
                                   uuid.uuid4().hex[:10])
        self.clock = FixedClock()  # Monday 2026-11-23 08:00 UTC (09:00 in Berlin)
        self.ms = FakeMicrosoft().install(rsps)
        self.graph = FakeGraph(rsps, GRAPH_BASE)
        self.ws = f"ws{uuid.uuid4().hex[:10]}"
        env = {"LINK_SIGNING_KEY": SIGNING_KEY, "PUBLIC_BASE_URL": PUBLIC_BASE, "MAIL_FROM": SENDER,
               "GRAPH_BASE_URL": GRAPH_BASE, "AzureWebJobsStorage": conn, "BACKFILL_SCHEDULE": "0 */5 * * * *"}
        self.container = Container(
            settings=Settings(env), store=self.store, queue=self.queue, clock=self.clock,
            identity=make_identity(), cipher=TokenCipher([TokenCipher.generate_key()]), signer=Signer(SIGNING_KEY),
            graph=GraphClient(GRAPH_BASE, requests.Session()),
            mail=SmtpTransport("127.0.0.1", sink.port, sender=SENDER, timeout=10),
        )
        install(self.container)
        self.cdeps = ConnectionDeps.from_container(self.container)

    def close(self) -> None:
        install(None)

    # ------------------------------------------------------------------ set-up through the real API
    def setup_calendars(self, users: list[str], calendars: dict[str, dict[str, Any]]) -> None:
        from functions import management

        assert request(management.management_workspace, "PUT", {"workspace": self.ws},
                       body={"name": "Acme"}).status in (200, 201)
        for u in users:
            body = {"name": u.title(), "email": f"{u}@acme.test", "timezone": "Europe/Berlin"}
            assert request(management.management_user, "PUT", {"workspace": self.ws, "user": u},
                           body=body).status in (200, 201)
        for cal, cal_body in calendars.items():
            r = request(management.management_calendar, "PUT", {"workspace": self.ws, "calendar": cal}, body=cal_body)
            assert r.status in (200, 201), r.body

    def teams_calendar(self, user: str = "alice", slug: str = "intro") -> str:
        slug = f"{self.ws}-{slug}"
        self.setup_calendars([user], {"intro": calendar_body(slug, [member(user, "teams")])})
        return slug

    def book(self, slug: str, start: str, email: str = "ivy@example.test") -> Resp:
        from functions import public_booking

        body = {"start": start, "name": "Ivy Invitee", "email": email, "timezone": "Europe/Paris"}
        resp = request(public_booking.public_create_booking, "POST", {"slug": slug}, body=body)
        assert resp.status == 201, resp.body
        return resp

    def cancel(self, booking_id: str, token: str) -> Resp:
        from functions import public_booking

        resp = request(public_booking.public_cancel_booking, "POST", {"id": booking_id}, params={"token": token})
        assert resp.status == 200, resp.body
        return resp

    def connect_teams(self, user: str, account: dict[str, Any]) -> None:
        result = connect(self.cdeps, self.ms, self.ws, user, "teams", account)
        assert result.ok or result.redirect_to, result

    def disconnect_teams(self, user: str) -> None:
        from shared.usecases.connections import disconnect

        disconnect(self.cdeps, self.ws, user, "teams")

    # ------------------------------------------------------------------ reading
    def booking(self, user: str, booking_id: str) -> dict[str, Any]:
        from shared.repositories import bookings as repo

        found = self.store.get(repo.SCHEDULE, repo.schedule_pk(self.ws, user), repo.booking_rk(booking_id))
        assert found is not None
        return found

    def index(self, user: str) -> list[str]:
        return [e["RowKey"] for e in self.store.query("backfillindex", f"{self.ws}|{user}")]

    def mails(self, kind: str | None = None) -> list[Any]:
        return [m for m in self.sink.messages() if kind is None or m["X-Bookbridge-Kind"] == kind]

    # ------------------------------------------------------------------ the host's part
    def run_timer(self) -> None:
        from functions import backfill_sweep

        user_function(backfill_sweep.backfill_sweep_timer)(TimerRequest(past_due=False))

    def pump(self, queue: str, *, limit: int = 50, keep: Callable[[dict[str, Any]], bool] | None = None) -> list[dict]:
        """Deliver every visible message of one of the test's queues to its function, deleting it on success
        (as the host does); messages ``keep`` refuses are deleted unprocessed. Returns every body taken."""
        from azure.storage.queue import BinaryBase64DecodePolicy, QueueClient

        from functions import backfill_sweep, communications_worker, meetings_worker

        fn = user_function({"meetings": meetings_worker.meetings_worker,
                            "communications": communications_worker.communications_worker,
                            "backfill": backfill_sweep.backfill_host}[queue])
        delivered: list[dict[str, Any]] = []
        with QueueClient.from_connection_string(self.conn, self.queue.name(queue),
                                                message_decode_policy=BinaryBase64DecodePolicy()) as client:
            for _ in range(limit):
                batch = list(client.receive_messages(max_messages=16, visibility_timeout=60))
                if not batch:
                    return delivered
                for stored in batch:
                    body = bytes(stored.content)
                    if keep is None or keep(json.loads(body)):
                        fn(QueueMessage(id=stored.id, body=body, dequeue_count=stored.dequeue_count))
                    delivered.append(json.loads(body))
                    client.delete_message(stored)
        raise AssertionError("the queue did not drain")

    def drop(self, queue: str) -> list[dict[str, Any]]:
        """Remove every visible message of one of the test's queues without processing it."""
        return self.pump(queue, keep=lambda _: False)

    def pump_all(self) -> None:
        for _ in range(5):
            if not (self.pump("meetings") or self.pump("communications")):
                return


# ================================================================================ fixtures
@pytest.fixture(scope="module")
def private_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An Azurite of this module only (free ports): the sweep's global tables hold nobody else's rows."""
    from devhost.azurite import start_azurite

    if os.environ.get("BOOKBRIDGE_TEST_STORAGE"):
        pytest.skip("the backfill sweep's tests need their own Azurite (its tables are deployment-wide)")
    instance = start_azurite(tmp_path_factory.mktemp("azurite-backfill"))
    try:
        yield instance.connection_string
    finally:
        instance.stop()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """``responses`` for Microsoft (Azurite and the SMTP sink pass through); Graph bodies contract-checked."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(re.compile(r"http://127\.0\.0\.1(:\d+)?/"))
        yield mock
        problems = check_calls(mock.calls, GRAPH_BASE)
    assert problems == [], "Graph bodies outside the contract subset:\n" + "\n".join(problems)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    server = SmtpSink(tmp_path / "outbox", port=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def world(private_storage: str, rsps: responses.RequestsMock, sink: SmtpSink) -> Iterator[World]:
    reset_sweep_tables(private_storage)
    w = World(private_storage, rsps, sink)
    try:
        yield w
    finally:
        w.close()
