"""What the meeting worker's tests share: a harness that runs the queue functions in-process.

The harness installs a ``shared.bootstrap.Container`` whose store/queue are fakes (unit) or Azurite
(integration), with the connection ports of ``shared.usecases.connections`` over that store (real
``connections`` rows) and a fake token port (MSAL is another engineer's and another test's concern),
and the real ``GraphClient`` + ``GraphEvents`` talking to :class:`FakeGraph` through ``responses``.
Messages are delivered by calling the decorated queue functions with a ``QueueMessage`` that carries
the body and ``dequeue_count``, like the Functions host does.
"""
from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import requests
from azure.functions.queue import QueueMessage

from shared import bootstrap
from shared.adapters.graph_client import GraphClient
from shared.adapters.graph_events import GraphEvents
from shared.bootstrap import Container
from shared.errors import NotConnected, ReauthRequired
from shared.ports import iso_utc
from shared.repositories import bookings as bookings_repo
from shared.settings import Settings
from shared.usecases import connections
from tests.unit.meetings.fakes import GRAPH_BASE, FakeGraph

OID, TID = "0c7b6f1e-0000-4000-8000-000000000001", "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_OID = "0c7b6f1e-0000-4000-8000-000000000002"


class FakeTokens:
    """The token port: ``tok-{kind}-{generation}`` (another user than ``host``: ``tok-{user}-{kind}-1``, so a
    test sees whose mailbox a call went to); a forced refresh makes a new generation.

    ``fail[kind] = exc`` raises on every call of that kind (``fail[(user, kind)]``: only that user's);
    ``fail_refresh[kind] = exc`` only on a forced refresh (a refresh token that Microsoft refuses: ``invalid_grant``).
    """

    def __init__(self, host: str = "host1") -> None:
        self.host = host
        self.generation: dict[str, int] = {}
        self.calls: list[tuple[str, str, str, bool]] = []
        self.fail: dict[Any, Exception] = {}
        self.fail_refresh: dict[str, Exception] = {}

    def __call__(self, workspace: str, user: str, kind: str, *, force_refresh: bool = False) -> str:
        self.calls.append((workspace, user, kind, force_refresh))
        if (user, kind) in self.fail:
            raise self.fail[(user, kind)]
        if user != self.host:
            return f"tok-{user}-{kind}-1"
        if kind in self.fail:
            raise self.fail[kind]
        if force_refresh:
            if kind in self.fail_refresh:
                raise self.fail_refresh[kind]
            self.generation[kind] = self.generation.get(kind, 1) + 1
        return f"tok-{kind}-{self.generation.get(kind, 1)}"


class Harness:
    """One workspace, one host, the worker's ports, and helpers to deliver messages and look at results."""

    def __init__(self, store: Any, queue: Any, clock: Any, rsps: Any) -> None:
        self.store, self.queue, self.clock = store, queue, clock
        self.graph = FakeGraph(rsps, GRAPH_BASE)
        self.tokens = FakeTokens()
        self.ws = f"ws{uuid.uuid4().hex[:10]}"
        self.host = "host1"
        self.graph_client = GraphClient(GRAPH_BASE, requests.Session())
        self.ports = {
            "access_token": self.tokens,
            "connection": lambda ws, user, kind: connections.get_connection(store, ws, user, kind),
            "mark_teams_unavailable": lambda ws, user, reason: connections.mark_teams_unavailable(
                store, ws, user, reason, clock=clock),
            "graph": GraphEvents(self.graph_client),
        }
        self.container = Container(Settings({}), store=store, queue=queue, clock=clock, meeting_ports=self.ports)
        bootstrap.install(self.container)

    def close(self) -> None:
        bootstrap.install(None)

    # ------------------------------------------------------------------ seeding
    def connect(self, kind: str, oid: str = OID, tid: str = TID, *, status: str = "connected",
                linked_calendar_id: str = "", user: str | None = None) -> None:
        """A ``connections`` row as the connections use case stores it (the host's, or ``user``'s)."""
        row = {"PartitionKey": f"{self.ws}|{user or self.host}", "RowKey": kind, "status": status,
               "account_oid": oid, "account_tid": tid, "upn": "host@contoso.example",
               "connected_at": iso_utc(self.clock.now()), "connected_generation": 1}
        if linked_calendar_id:
            row["linked_calendar_id"] = linked_calendar_id
        self.store.upsert("connections", row)

    def add_booking(self, **overrides: Any) -> dict[str, Any]:
        """A booking row as the booking use case writes it (``shared.repositories.bookings``)."""
        start = self.clock.now().replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=2)
        booking = bookings_repo.Booking(
            id=overrides.pop("id", uuid.uuid4().hex), workspace=self.ws, calendar="cal1", calendar_slug="intro",
            calendar_type="personal", calendar_timezone="Europe/Berlin", host=self.host,
            hosts=[{"user": self.host}], invitee_name="Ada Lovelace", invitee_email="ada@example.com",
            invitee_timezone="Europe/London", start_utc=start, end_utc=start + timedelta(minutes=30),
            status="confirmed", location="teams", link_state="pending", calendar_name="Intro call",
            notes="About the engine", revision=1, created_at=iso_utc(self.clock.now()),
            updated_at=iso_utc(self.clock.now()),
        )
        for key in list(overrides):
            if hasattr(booking, key):
                setattr(booking, key, overrides.pop(key))
        entity = bookings_repo.booking_to_entity(booking)
        entity.update(overrides)
        self.store.insert(bookings_repo.SCHEDULE, entity)
        return self.booking(booking.id)

    def booking(self, booking_id: str) -> dict[str, Any]:
        found = self.store.get(bookings_repo.SCHEDULE, bookings_repo.schedule_pk(self.ws, self.host),
                               bookings_repo.booking_rk(booking_id))
        assert found is not None
        return found

    def change_booking(self, booking_id: str, **changes: Any) -> dict[str, Any]:
        """What the booking use case does on reschedule/cancel: a new revision, ETag-conditional."""
        current = self.booking(booking_id)
        updated = {**current, **changes, "revision": int(current["revision"]) + 1}
        self.store.update(bookings_repo.SCHEDULE, updated, current["_etag"])
        return self.booking(booking_id)

    # ------------------------------------------------------------------ messages
    def message(self, booking: dict[str, Any], op: str = "create", **extra: Any) -> dict[str, Any]:
        return {"op": op, "workspace": self.ws, "host": self.host, "booking_id": booking["id"],
                "revision": int(booking["revision"]), **extra}

    @staticmethod
    def queue_message(body: dict[str, Any], dequeue_count: int = 1) -> QueueMessage:
        return QueueMessage(id=uuid.uuid4().hex, body=json.dumps(body).encode("utf-8"), dequeue_count=dequeue_count,
                            pop_receipt="r")

    def deliver(self, body: dict[str, Any], dequeue_count: int = 1) -> None:
        """Call the ``meetings`` queue function as the host does (raises when the function fails)."""
        from functions import meetings_worker

        meetings_worker.meetings_worker(self.queue_message(body, dequeue_count))

    def deliver_poison(self, body: dict[str, Any]) -> None:
        """Call the ``meetings-poison`` queue function."""
        from functions import meetings_worker

        meetings_worker.meetings_poison(self.queue_message(body, 1))


def due_rows(h: Harness) -> list[dict[str, Any]]:
    """The rows of the reconciler's due index (``reconciledue``)."""
    from shared.domain import reconcile as rc

    return list(h.store.query(rc.DUE_TABLE, rc.DUE_PK))


def not_connected() -> NotConnected:
    return NotConnected("no connected teams connection")


def invalid_grant() -> ReauthRequired:
    return ReauthRequired(reason="invalid_grant: AADSTS70008 the refresh token has expired")


def sweep_and_deliver(h: Harness) -> list[dict[str, Any]]:
    """One timer run of the sweep, then every ``meetings`` message it sent, delivered."""
    from shared.usecases.backfill import run_sweep

    before = len(h.queue.on("meetings"))
    run_sweep(bootstrap.container().backfill_deps(), trigger="timer")
    sent = h.queue.on("meetings")[before:]
    for body in sent:
        h.deliver(body)
    return sent
