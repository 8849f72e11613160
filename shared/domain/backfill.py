"""The backfill sweep's selection rules (rule 4), pure: which indexed bookings get a link now (a Teams link,
or a Google Meet link, rule 28).

A ``backfillindex`` row (PK ``{ws}|{host}``, RK ``{start_utc}|{booking_id}``) names a booking that was
stored ``awaiting_connection`` (written only then, deleted on cancel and once the link exists, moved on
reschedule). The sweep decides from the row alone (:func:`index_row_is_past`, :func:`recently_claimed`):
a past row is deleted; an upcoming one of a connected host is claimed and a ``meetings/create`` naming
the row (``backfill_row``) is sent. The booking itself decides in the meeting worker, which reads it
anyway (:func:`candidate_verdict`). A booking is backfilled only when ALL of these hold:

* it exists in that host's partition, in that workspace, with that host as its primary host;
* it is ``confirmed`` (never a cancelled one);
* it has no meeting link (``meeting_url`` empty);
* its location was ``teams`` or ``google_meet`` when it was made and its calendar type supports dynamic
  links (never ``class``/``event`` calendars, never bookings made before Teams was chosen);
* its link state is still ``awaiting_connection`` (``created``, ``failed``, ``static``, ... are final
  for the sweep);
* it starts in the future.

The connection that makes the link is the one the sweep checks (:func:`connection_kind`): ``teams``, or
``google_calendar`` for a Google Meet booking (the row records the booking's ``location``).

A booking failing any of these is not backfilled: the worker deletes its index rows (the one the message
names and the booking's own) and acknowledges; the booking itself is never touched. A row is enqueued
at most once per connection generation within :data:`REENQUEUE_AFTER`: the claim is written on the
index row itself. :func:`decide` (row and booking together) states the same rules for one row.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from shared.domain.model import (
    DYNAMIC_LINK_CALENDAR_TYPES,
    BookingStatus,
    CalendarType,
    ConnectionKind,
    ConnectionStatus,
    LinkState,
    MeetingLocation,
)

#: Locations whose link is made by a connection (and so may wait for it).
BACKFILLED_LOCATIONS = frozenset({MeetingLocation.TEAMS.value, MeetingLocation.GOOGLE_MEET.value})

#: How long a claimed (enqueued) candidate is left to the meeting worker before it is enqueued again
#: (a lost message, a crash between claim and send, a throttled worker that gave up).
REENQUEUE_AFTER = timedelta(minutes=10)


class Decision(str, Enum):
    """What the sweep does with one index row."""

    ENQUEUE = "enqueue"        # claim the row and put a ``meetings/create`` message
    WAIT = "wait"              # enqueued recently for this connection: leave it to the worker
    STALE = "stale"            # delete the index row; the booking is never touched


@dataclass(frozen=True)
class Verdict:
    """A decision and a short, id-free reason (for counters and logs)."""

    decision: Decision
    reason: str


@dataclass(frozen=True)
class IndexRow:
    """A ``backfillindex`` row's key parts and the sweep's claim on it."""

    partition: str
    row_key: str
    start_utc: str
    booking_id: str
    enqueued_at: str | None = None
    enqueued_generation: int | None = None
    etag: str | None = None
    revision: int | None = None   # the booking's revision when it was indexed (older rows: none)
    location: str | None = None   # the booking's location when it was indexed (older rows: none = Teams)

    @classmethod
    def from_entity(cls, e: Mapping[str, Any]) -> IndexRow | None:
        """Parse a row; ``None`` when its RowKey is not ``{start_utc}|{booking_id}``."""
        rk = str(e.get("RowKey") or "")
        start, sep, booking_id = rk.partition("|")
        if not sep or not start or not booking_id or "|" in booking_id:
            return None
        gen = e.get("enqueued_generation")
        return cls(
            partition=str(e.get("PartitionKey") or ""),
            row_key=rk,
            start_utc=start,
            booking_id=booking_id,
            enqueued_at=str(e["enqueued_at"]) if e.get("enqueued_at") else None,
            enqueued_generation=int(gen) if isinstance(gen, int) and not isinstance(gen, bool) else None,
            etag=e.get("_etag"),
            revision=_positive_int(e.get("revision")),
            location=str(e["location"]) if e.get("location") else None,
        )


def connection_kind(row: IndexRow) -> str:
    """The connection kind that makes the row's link: ``google_calendar`` for Google Meet, else ``teams``."""
    if row.location == MeetingLocation.GOOGLE_MEET.value:
        return ConnectionKind.GOOGLE_CALENDAR.value
    return ConnectionKind.TEAMS.value


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def host_partition(workspace: str, host: str) -> str:
    """``{ws}|{host}``: the partition of a host in ``schedule``, ``backfillindex`` and ``sweepstate``."""
    return f"{workspace}|{host}"


def split_host_key(key: str) -> tuple[str, str] | None:
    """``(ws, host)`` of a ``{ws}|{host}`` key; ``None`` when malformed."""
    ws, sep, host = key.partition("|")
    if not sep or not ws or not host or "|" in host:
        return None
    return ws, host


def is_connected(connection: Mapping[str, Any] | None) -> bool:
    """True when a connection row (``teams``, ``google_calendar``) is ``connected``."""
    return connection is not None and str(connection.get("status") or "") == ConnectionStatus.CONNECTED.value


def generation_of(connection: Mapping[str, Any] | None) -> int:
    """The row's ``connected_generation`` (+1 on every transition to connected); 0 when unknown."""
    value = (connection or {}).get("connected_generation")
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0


def _parse(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def recently_claimed(row: IndexRow, generation: int, now: datetime,
                     reenqueue_after: timedelta = REENQUEUE_AFTER) -> bool:
    """True when the row was enqueued for this connection generation less than ``reenqueue_after`` ago."""
    if row.enqueued_at is None or row.enqueued_generation != generation:
        return False
    at = _parse(row.enqueued_at)
    return at is not None and now - at < reenqueue_after


def index_row_is_past(row: IndexRow, now: datetime) -> bool:
    """True when the row's start (from its key) is not in the future."""
    start = _parse(row.start_utc)
    return start is None or start <= now


def candidate_verdict(booking: Mapping[str, Any] | None, *, workspace: str, host: str,
                      now: datetime) -> Verdict:
    """Whether ``booking`` (the stored entity, or ``None``) is a backfill candidate right now."""
    if booking is None:
        return Verdict(Decision.STALE, "missing")
    if str(booking.get("workspace") or "") != workspace or str(booking.get("host") or "") != host:
        return Verdict(Decision.STALE, "other_host")
    if str(booking.get("status") or "") != BookingStatus.CONFIRMED.value:
        return Verdict(Decision.STALE, "cancelled")
    if booking.get("meeting_url"):
        return Verdict(Decision.STALE, "has_link")
    if str(booking.get("location") or "") not in BACKFILLED_LOCATIONS:
        return Verdict(Decision.STALE, "not_teams")
    try:
        calendar_type = CalendarType(str(booking.get("calendar_type") or ""))
    except ValueError:
        return Verdict(Decision.STALE, "calendar_type")
    if calendar_type not in DYNAMIC_LINK_CALENDAR_TYPES:
        return Verdict(Decision.STALE, "calendar_type")
    if str(booking.get("link_state") or "") != LinkState.AWAITING_CONNECTION.value:
        return Verdict(Decision.STALE, "link_state")
    start = _parse(str(booking.get("start_utc") or ""))
    if start is None or start <= now:
        return Verdict(Decision.STALE, "past")
    return Verdict(Decision.ENQUEUE, "candidate")


def decide(row: IndexRow, booking: Mapping[str, Any] | None, *, workspace: str, host: str, now: datetime,
           generation: int, reenqueue_after: timedelta = REENQUEUE_AFTER) -> Verdict:
    """What to do with one index row, given its booking as stored now.

    A row whose start no longer matches the booking's (a reschedule wrote a new row) is ``STALE`` even
    when the booking is a candidate: its own row carries it (the sweep makes sure that row exists).
    """
    verdict = candidate_verdict(booking, workspace=workspace, host=host, now=now)
    if verdict.decision is not Decision.ENQUEUE:
        return verdict
    assert booking is not None
    if str(booking.get("start_utc") or "") != row.start_utc:
        return Verdict(Decision.STALE, "moved")
    if recently_claimed(row, generation, now, reenqueue_after):
        return Verdict(Decision.WAIT, "recently_enqueued")
    return verdict
