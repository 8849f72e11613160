"""A retry of the same request after a 503, without an Idempotency-Key (issue 15, "nothing stranded").

Intake may have stored the booking before the storage outage answered 503 (the queue put failed, or the
answer was lost). A retry of the SAME request (same calendar, time and request fingerprint: name, email,
time zone, notes) then finds the time taken by that very booking: it answers it again (201, replayed)
and puts its messages again, instead of a 409 from its own booking. Only a booking made in the last
:data:`REPLAY_WINDOW`, still confirmed, qualifies.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.domain.availability import Interval
from shared.domain.model import BookingStatus
from shared.domain.slot_locks import lock_cells
from shared.errors import Conflict
from shared.ports import parse_iso_utc
from shared.repositories import bookings as repo
from shared.repositories import calendars as calendar_repo
from shared.repositories.bookings import Booking
from shared.usecases import booking_events
from shared.usecases.booking.deps import BookingDeps, BookingRequest, BookingResult
from shared.usecases.booking.locks import lock_rows
from shared.usecases.booking.views import created_body

log = logging.getLogger("bookbridge.booking")

#: How long after its creation a booking can be answered again to a retry without a key.
REPLAY_WINDOW = timedelta(minutes=10)


def own_booking(deps: BookingDeps, record: calendar_repo.CalendarRecord, slot: Interval, req: BookingRequest,
                now: datetime) -> Booking | None:
    """The booking this very request made moments ago at ``slot`` (``None`` when the slot is someone else's)."""
    cell = lock_cells(slot.start, slot.end)[:1]
    fingerprint = req.fingerprint()
    for user in record.config.users:
        for row in lock_rows(deps.store, record.workspace, user, cell):
            host, booking_id = row.get("booking_host"), row.get("booking_id")
            if not host or not booking_id:
                continue
            b = repo.get_booking(deps.store, record.workspace, str(host), str(booking_id))
            if (b is not None and b.status == BookingStatus.CONFIRMED.value and b.calendar == record.calendar
                    and b.start_utc == slot.start and b.extra.get("request_fingerprint") == fingerprint
                    and b.created_at and now - parse_iso_utc(b.created_at) <= REPLAY_WINDOW):
                return b
    return None


def replay(deps: BookingDeps, b: Booking) -> BookingResult:
    """Answer the booking again and put its messages again (the workers de-duplicate them)."""
    booking_events.booking_confirmed(deps.queue, b.workspace, b.host, b.id, b.revision)
    return BookingResult(created_body(deps, b), replayed=True)


def replay_or_raise(deps: BookingDeps, record: calendar_repo.CalendarRecord, slot: Interval, req: BookingRequest,
                    now: datetime, conflict: Conflict) -> BookingResult:
    """The request's own booking again (see the module doc), else the ``conflict`` (409) it met."""
    mine = own_booking(deps, record, slot, req, now)
    if mine is None:
        raise conflict
    log.info("retry without a key answered with its own booking %s", mine.id)
    return replay(deps, mine)


__all__ = ["REPLAY_WINDOW", "own_booking", "replay", "replay_or_raise"]
