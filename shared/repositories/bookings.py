"""Booking rows and their companions, mapped to and from plain values.

* ``schedule`` (PK ``{ws}|{host}``): ``booking|{id}`` (the booking, in its primary host's partition)
  and ``lock|{cell}`` (one per 5-minute cell of a booking, in EVERY host's partition; fields
  ``booking_id``, ``booking_host`` (partition of the booking row), ``calendar``, ``revision``,
  ``created_at``, ``lock_op`` (id of the request that took it), ``lock_kind`` (``buffer`` for a buffer cell,
  ``shared.domain.slot_locks``)).
* ``backfillindex`` (PK ``{ws}|{host}``, RK ``{start_utc}|{booking_id}``): bookings stored
  ``awaiting_connection`` (``revision`` as indexed: the backfill sweep enqueues from the row alone).
* ``backfillhosts`` (PK ``hosts``, RK ``{ws}|{host}``): hosts that may have ``backfillindex`` rows (the
  sweep's list of hosts, so it never scans); written by :func:`index_awaiting` after the index row.
* ``idempotency`` (PK ``{calendar_slug}``, RK ``sha256(key)``): ``state`` (pending|booked),
  ``fingerprint``, ``ws``, ``host``, ``booking_id``, ``created_at``.
* ``calendarstats`` (PK ``{ws}``, RK ``{calendar}``): ``members_json`` =
  ``{user: {"count": n, "last_booked_at": iso}}`` for round-robin assignment, ETag-guarded.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import ConcurrencyConflict
from shared.ports import Entity, EntityExists, EntityStore, iso_utc, parse_iso_utc
from shared.repositories.optimistic import optimistic_update, starting_with

SCHEDULE = "schedule"
BACKFILL = "backfillindex"
BACKFILL_HOSTS = "backfillhosts"
BACKFILL_HOSTS_PK = "hosts"
IDEMPOTENCY = "idempotency"
STATS = "calendarstats"
BOOKING_PREFIX = "booking|"
LOCK_KIND_BUFFER = "buffer"


def schedule_pk(ws: str, user: str) -> str:
    """Partition of a host in ``schedule`` (and ``backfillindex``)."""
    return f"{ws}|{user}"


def booking_rk(booking_id: str) -> str:
    """RowKey of a booking row."""
    return f"{BOOKING_PREFIX}{booking_id}"


def iso_precise(value: datetime) -> str:
    """ISO-8601 UTC with microseconds (``...T09:30:00.000001Z``): ordered recency stamps."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Fields of the architecture's booking entity that this module maps by name. Every other stored
# field (graph ids, organizer ids, delivery_error, what workers add later) rides in ``extra`` and
# is written back unchanged, because transaction updates replace the whole entity.
@dataclass
class Booking:
    """A booking as the use cases see it."""

    id: str
    workspace: str
    calendar: str
    calendar_slug: str
    calendar_type: str
    calendar_timezone: str
    host: str
    hosts: list[dict[str, str]]
    invitee_name: str
    invitee_email: str
    invitee_timezone: str
    start_utc: datetime
    end_utc: datetime
    status: str = "confirmed"
    location: str = "none"
    link_state: str = "not_applicable"
    notes: str | None = None
    calendar_name: str | None = None
    custom_url: str | None = None
    link_reason: str | None = None
    meeting_url: str | None = None
    revision: int = 1
    created_at: str = ""
    updated_at: str = ""
    reminder_offsets: list[int] = field(default_factory=list)
    # the reconciler's intent (intake), then its next attempt (rule 16)
    next_attempt_at: str | None = None
    # written by the meeting worker and the reconciler (docs/architecture.md, "Booking fields written by the
    # workers"); ``None`` = not (yet) recorded, so absent from the entity
    graph_event_id: str | None = None
    online_meeting_id: str | None = None
    organizer_oid: str | None = None
    organizer_tid: str | None = None
    invitation_channel: str | None = None
    event_carries_link: bool | None = None
    graph_synced_revision: int | None = None
    graph_sync_error: str | None = None
    graph_cancelled: bool | None = None
    retry_failures: int | None = None
    pending_notices: str | None = None
    confirmation_enqueued_revision: int | None = None
    host_notice_revision: int | None = None
    link_ready_notified_kind: str | None = None
    link_ready_notified_revision: int | None = None
    meeting_options_state: str | None = None
    meeting_options_override: str | None = None
    meeting_generation: int | None = None
    orphans_json: str | None = None
    history_json: str | None = None
    participants_json: str | None = None  # a collective booking's co-hosts' events (rule 20)
    lock_tail_minutes: int | None = None  # how far past its end the booking's locks reach (its buffer cells)
    etag: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # a mapped field handed in through ``extra`` becomes its attribute (it would be overwritten otherwise)
        for name in [k for k in self.extra if k in _MAPPED]:
            value = self.extra.pop(name)
            if getattr(self, name) is None:
                setattr(self, name, value)

    @property
    def host_ids(self) -> list[str]:
        """User ids of every host, primary first."""
        return [h["user"] for h in self.hosts]

    @property
    def partition(self) -> str:
        """The partition of the booking row."""
        return schedule_pk(self.workspace, self.host)

    def as_row(self) -> Entity:
        """The booking's stored form (plain values): what the pure rules of ``shared.domain`` read."""
        return booking_to_entity(self)


_MAPPED = {f.name for f in fields(Booking)} - {"hosts", "start_utc", "end_utc", "reminder_offsets", "etag",
                                               "extra"}
_KNOWN = _MAPPED | {"PartitionKey", "RowKey", "hosts_json", "start_utc", "end_utc", "reminder_offsets_json",
                    "_etag", "Timestamp"}


def booking_to_entity(b: Booking) -> Entity:
    """The ``schedule`` row of a booking."""
    entity: Entity = dict(b.extra)
    entity.update({name: getattr(b, name) for name in _MAPPED})
    entity.update({
        "PartitionKey": b.partition,
        "RowKey": booking_rk(b.id),
        "hosts_json": json.dumps(b.hosts, separators=(",", ":")),
        "start_utc": iso_utc(b.start_utc),
        "end_utc": iso_utc(b.end_utc),
        "reminder_offsets_json": json.dumps(list(b.reminder_offsets)),
    })
    return {k: v for k, v in entity.items() if v is not None}


def booking_from_entity(e: Mapping[str, Any]) -> Booking:
    """Inverse of :func:`booking_to_entity` (unknown fields are kept in ``extra``)."""
    values: dict[str, Any] = {name: e.get(name) for name in _MAPPED if e.get(name) is not None}
    return Booking(
        **values,
        hosts=json.loads(e.get("hosts_json") or "[]"),
        start_utc=parse_iso_utc(e["start_utc"]),
        end_utc=parse_iso_utc(e["end_utc"]),
        reminder_offsets=json.loads(e.get("reminder_offsets_json") or "[]"),
        etag=e.get("_etag"),
        extra={k: v for k, v in e.items() if k not in _KNOWN and not k.startswith("_")},
    )


class TableBookings:
    """``shared.ports.BookingRepository`` over an ``EntityStore``: :class:`Booking` in, :class:`Booking` out.

    Fields the dataclass does not name ride in ``extra`` and are written back unchanged by the
    ETag-conditional replace.
    """

    def __init__(self, store: EntityStore) -> None:
        self._store = store

    def load(self, workspace: str, host: str, booking_id: str) -> Booking | None:
        """The booking (with its ``etag``), or ``None``."""
        return get_booking(self._store, workspace, host, booking_id)

    def save(self, booking: Booking) -> str:
        """Replace the booking if its ``etag`` still matches (``ConcurrencyConflict`` otherwise)."""
        return self._store.update(SCHEDULE, booking_to_entity(booking), booking.etag, merge=False)


def get_booking(store: EntityStore, ws: str, host: str, booking_id: str) -> Booking | None:
    """Point read of a booking row."""
    entity = store.get(SCHEDULE, schedule_pk(ws, host), booking_rk(booking_id))
    return booking_from_entity(entity) if entity else None


def lock_entity(ws: str, user: str, row_key: str, booking: Booking, now: datetime, op: str | None = None,
                *, buffer: bool = False) -> Entity:
    """One ``lock|{cell}`` row of ``booking`` in ``user``'s partition; ``op`` names the request that took it
    (so a rollback removes only its own rows, never those of a concurrent request for the same booking);
    ``buffer``: one of its buffer cells (``lock_kind: buffer``: availability does not read it as booked time)."""
    entity: Entity = {
        "PartitionKey": schedule_pk(ws, user),
        "RowKey": row_key,
        "booking_id": booking.id,
        "booking_host": booking.host,
        "calendar": booking.calendar,
        "revision": booking.revision,
        "created_at": iso_utc(now),
    }
    if op:
        entity["lock_op"] = op
    if buffer:
        entity["lock_kind"] = LOCK_KIND_BUFFER
    return entity


def backfill_rk(start_utc: datetime, booking_id: str) -> str:
    """RowKey of a booking's ``backfillindex`` row: ``{start_utc}|{booking_id}``."""
    return f"{iso_utc(start_utc)}|{booking_id}"


def backfill_entity(b: Booking) -> Entity:
    """The ``backfillindex`` row of a booking stored ``awaiting_connection``."""
    return {
        "PartitionKey": schedule_pk(b.workspace, b.host),
        "RowKey": backfill_rk(b.start_utc, b.id),
        "booking_id": b.id,
        "calendar": b.calendar,
        "start_utc": iso_utc(b.start_utc),
        "location": b.location,
        "revision": b.revision,
    }


def backfill_host_entity(ws: str, host: str) -> Entity:
    """The ``backfillhosts`` row of a host with (possibly) ``backfillindex`` rows."""
    return {"PartitionKey": BACKFILL_HOSTS_PK, "RowKey": schedule_pk(ws, host), "workspace": ws, "host": host}


def index_awaiting(store: EntityStore, b: Booking) -> None:
    """Record a booking stored ``awaiting_connection`` for the backfill sweep: its ``backfillindex`` row,
    THEN its host's ``backfillhosts`` row (this order: the sweep deletes a host row it found empty only
    with the ETag it read before looking, and this upsert changes that ETag). Idempotent."""
    store.upsert(BACKFILL, backfill_entity(b))
    store.upsert(BACKFILL_HOSTS, backfill_host_entity(b.workspace, b.host))


# ------------------------------------------------------------------ idempotency
def idempotency_rk(key: str) -> str:
    """RowKey of an Idempotency-Key: its SHA-256 (the key itself is never stored)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ round-robin stats
@dataclass
class MemberStats:
    """Per calendar: how often and how recently each member was booked."""

    counts: dict[str, int] = field(default_factory=dict)
    last_booked_at: dict[str, datetime] = field(default_factory=dict)
    etag: str | None = None


def get_stats(store: EntityStore, ws: str, calendar: str) -> MemberStats:
    """Point read of the calendar's stats row (empty when absent)."""
    entity = store.get(STATS, ws, calendar)
    if not entity:
        return MemberStats()
    data = json.loads(entity.get("members_json") or "{}")
    return MemberStats(
        counts={u: int(v.get("count", 0)) for u, v in data.items()},
        last_booked_at={u: parse_iso_utc(v["last_booked_at"]) for u, v in data.items() if v.get("last_booked_at")},
        etag=entity.get("_etag"),
    )


def record_assignment(store: EntityStore, ws: str, calendar: str, user: str, now: datetime,
                      stats: MemberStats | None = None) -> MemberStats:
    """Count a booking for ``user`` and mark it the most recent (ETag-guarded, retried on conflict).

    The stamp is ``max(now, latest stamp + 1 µs)`` so the order of assignments is strict even when
    the clock does not move between two bookings.
    """

    def write(current: MemberStats) -> MemberStats:
        latest = max(current.last_booked_at.values(), default=None)
        stamp = now if latest is None or now > latest else latest + timedelta(microseconds=1)
        counts = dict(current.counts)
        counts[user] = counts.get(user, 0) + 1
        last = dict(current.last_booked_at)
        last[user] = stamp
        data = {u: {"count": counts.get(u, 0), **({"last_booked_at": iso_precise(last[u])} if u in last else {})}
                for u in sorted(set(counts) | set(last))}
        entity = {"PartitionKey": ws, "RowKey": calendar, "members_json": json.dumps(data, separators=(",", ":"))}
        if current.etag is None:
            etag = store.insert(STATS, entity)
        else:
            etag = store.update(STATS, entity, current.etag)
        return MemberStats(counts, last, etag)

    def read() -> MemberStats:
        return get_stats(store, ws, calendar)

    return optimistic_update(read if stats is None else starting_with(stats, read), write,
                             what="round-robin statistics", races=(EntityExists, ConcurrencyConflict))
