"""What the backfill tests share: a small world of hosts, connections and bookings on any ``EntityStore``.

Rows are written in the shapes their owners write them: bookings with ``shared.repositories.bookings``
(``index_awaiting`` for ``awaiting_connection`` ones, as intake and the meeting worker do), connections
and transition rows with ``shared.domain.connections`` (as the OAuth callback does).
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from shared.domain import connections as conn_rules
from shared.ports import iso_utc
from shared.repositories import bookings as repo
from shared.usecases.backfill import BackfillDeps

OID_A, OID_B = "3743f5ba-10c7-41d8-838b-7d52ca026829", "09ff5609-310e-48ce-b202-e1f097adcb42"
TID = "f20819f0-fd3e-4491-aad0-0479085b2e6f"


class Ticks:
    """A monotonic timer for the run budget: advances ``step`` seconds per reading."""

    def __init__(self, step: float = 0.0) -> None:
        self.value, self.step = 0.0, step

    def __call__(self) -> float:
        self.value += self.step
        return self.value


def new_ws() -> str:
    return f"ws{uuid.uuid4().hex[:10]}"


def set_connection(store: Any, clock: Any, ws: str, user: str, status: str = "connected", *, generation: int = 1,
                   oid: str = OID_A, transition: bool = True) -> dict[str, Any]:
    """A ``teams`` connections row; a transition to ``connected`` also gets its ``connectiontransitions`` row."""
    now = iso_utc(clock.now())
    entity = {"PartitionKey": f"{ws}|{user}", "RowKey": "teams", "workspace": ws, "user": user, "kind": "teams",
              "status": status, "account_oid": oid, "account_tid": TID, "connected_at": now,
              "connected_generation": generation, "updated_at": now}
    store.upsert(conn_rules.CONNECTIONS_TABLE, entity)
    if status == "connected" and transition:
        store.upsert(conn_rules.TRANSITIONS_TABLE, conn_rules.transition_row(entity))
    return entity


def add_booking(store: Any, ws: str, host: str, start: datetime, *, index: bool | None = None,
                **over: Any) -> repo.Booking:
    """A booking row (default: personal calendar, Teams, ``awaiting_connection``), indexed when awaiting."""
    values: dict[str, Any] = dict(
        id=uuid.uuid4().hex, workspace=ws, calendar="cal1", calendar_slug=f"{ws}-intro", calendar_type="personal",
        calendar_timezone="Europe/Berlin", host=host, hosts=[{"user": host, "name": host}],
        invitee_name="Ivy Invitee", invitee_email="ivy@example.test", invitee_timezone="Europe/Paris",
        start_utc=start, end_utc=start + timedelta(minutes=30), status="confirmed", location="teams",
        link_state="awaiting_connection", revision=1, created_at="2026-11-20T08:00:00Z",
        updated_at="2026-11-20T08:00:00Z",
    )
    values.update(over)
    b = repo.Booking(**values)
    store.upsert(repo.SCHEDULE, repo.booking_to_entity(b))
    if index if index is not None else b.link_state == "awaiting_connection":
        repo.index_awaiting(store, b)
    return b


def plant_index_row(store: Any, b: repo.Booking) -> None:
    """An index row for a booking that should not have one (a crash, an old version, a bug elsewhere)."""
    store.upsert(repo.BACKFILL, repo.backfill_entity(b))


def stored(store: Any, b: repo.Booking) -> dict[str, Any] | None:
    return store.get(repo.SCHEDULE, repo.schedule_pk(b.workspace, b.host), repo.booking_rk(b.id))


def index_keys(store: Any, ws: str, host: str) -> list[str]:
    return [e["RowKey"] for e in store.query(repo.BACKFILL, repo.schedule_pk(ws, host))]


def host_keys(store: Any) -> list[str]:
    return [e["RowKey"] for e in store.query(repo.BACKFILL_HOSTS, repo.BACKFILL_HOSTS_PK)]


def deps(store: Any, queue: Any, clock: Any, **over: Any) -> BackfillDeps:
    return BackfillDeps(store=store, queue=queue, clock=clock, **over)


def creates(queue: Any, ws: str | None = None) -> list[tuple[str, str, int]]:
    """``(host, booking_id, revision)`` of every ``meetings/create`` sent (of ``ws``)."""
    return [(m["host"], m["booking_id"], m["revision"]) for m in queue.on("meetings")
            if m["op"] == "create" and (ws is None or m["workspace"] == ws)]
