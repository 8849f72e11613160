"""A host's reconnect of any kind (rule 16): every upcoming booking of that host that is not converged is
sent to the reconciler at once (``meetings/reconcile``).

One query of the host's booking rows in ``schedule`` (``booking|...``; the host's lock rows are not read),
one point read per connection kind, and the decision from each row alone (``shared.domain.reconcile``):
only bookings that need work get a message. ``awaiting_connection`` ones are the backfill sweep's (its
``create`` messages, from its index). Triggered by the ``backfill`` queue message a reconnect sends; the
timer sweep remains the guarantee for what has a next attempt.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from shared.domain import participants
from shared.domain import reconcile as rules
from shared.domain.meeting_plan import ConnectionView
from shared.domain.model import ConnectionKind, LinkState
from shared.domain.slot_locks import LOCK_PREFIX, cell_key
from shared.ports import EntityStore, MessageQueue
from shared.repositories import bookings as bookings_repo
from shared.repositories.connection_reads import get_connection_row
from shared.usecases import booking_events

log = logging.getLogger("bookbridge.reconcile")

#: Booking rows of one host read per reconnect at most.
MAX_HOST_BOOKINGS = 5000


@dataclass
class HostRepair:
    """What one host's repair found and sent."""

    bookings: int = 0
    enqueued: int = 0


def repair_host(store: EntityStore, queue: MessageQueue, now: datetime, workspace: str, host: str) -> HostRepair:
    """Send ``meetings/reconcile`` for each upcoming booking of ``host`` that has not converged."""
    teams = ConnectionView.from_row(get_connection_row(store, workspace, host, ConnectionKind.TEAMS.value))
    calendar = ConnectionView.from_row(get_connection_row(store, workspace, host,
                                                          ConnectionKind.MICROSOFT_CALENDAR.value))
    result = HostRepair()
    prefix = bookings_repo.BOOKING_PREFIX
    rows = store.query(bookings_repo.SCHEDULE, bookings_repo.schedule_pk(workspace, host), row_key_from=prefix,
                       row_key_to=prefix[:-1] + "}", limit=MAX_HOST_BOOKINGS)
    for row in rows:
        booking = bookings_repo.booking_from_entity(row)
        if booking.start_utc <= now or booking.link_state == LinkState.AWAITING_CONNECTION.value:
            continue
        result.bookings += 1
        decision = rules.decide(row, teams, calendar, now, retry_failed=True)
        if decision.converged:
            continue
        booking_events.send_meeting(queue, "reconcile", workspace, host, booking.id, _revision(booking.revision))
        result.enqueued += 1
    result.enqueued += _repair_as_cohost(store, queue, now, workspace, host, calendar)
    log.info("reconcile host ws=%s host=%s upcoming=%d enqueued=%d", workspace, host, result.bookings,
             result.enqueued)
    return result


def _repair_as_cohost(store: EntityStore, queue: MessageQueue, now: datetime, workspace: str, user: str,
                      calendar: ConnectionView | None) -> int:
    """Collective bookings where ``user`` is a co-host (rule 20) live in their organizer's partition: they are
    found through ``user``'s upcoming lock rows (one range query; ``booking_host`` names the organizer), and each
    one whose co-host event ``user`` lacks or has behind is sent to the reconciler. ``calendar``: ``user``'s
    ``microsoft_calendar``; the ``google_calendar`` one is read here (a Google co-host's record names it)."""
    google = ConnectionView.from_row(get_connection_row(store, workspace, user,
                                                        ConnectionKind.GOOGLE_CALENDAR.value))
    mine = {participants.MICROSOFT: calendar, participants.GOOGLE: google}
    if not any(c is not None and c.connected for c in mine.values()):
        return 0
    rows = store.query(bookings_repo.SCHEDULE, bookings_repo.schedule_pk(workspace, user),
                       row_key_from=cell_key(now), row_key_to=LOCK_PREFIX[:-1] + "}",
                       select=["booking_id", "booking_host"], limit=MAX_HOST_BOOKINGS)
    organizers = {(str(r.get("booking_host") or ""), str(r.get("booking_id") or "")) for r in rows}
    sent = 0
    for organizer, booking_id in sorted(organizers):
        if not organizer or organizer == user or not booking_id:
            continue
        row = store.get(bookings_repo.SCHEDULE, bookings_repo.schedule_pk(workspace, organizer),
                        bookings_repo.booking_rk(booking_id))
        record = participants.records((row or {}).get("participants_json")).get(user, participants.Participant())
        if row is None or not participants.steps(row, record, mine[record.provider], now):
            continue
        booking_events.send_meeting(queue, "reconcile", workspace, organizer, booking_id,
                                    _revision(row.get("revision")))
        sent += 1
    return sent


def _revision(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


__all__ = ["HostRepair", "MAX_HOST_BOOKINGS", "repair_host"]
