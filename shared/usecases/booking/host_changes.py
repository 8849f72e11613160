"""What the host did to a booking's event in Outlook, applied to the booking (rule 19).

The same writes as the invitee's cancel and reschedule (``manage``): a cancel deletes the locks with the
booking update in one transaction and sends ``meetings/cancel`` + ``communications/cancellation``; a move
locks the new cells (rule 13: a time another booking holds is refused) and sends ``meetings/reschedule`` +
``communications/reschedule`` (the same link; the reconciler writes the times to whatever else carries them).
The host chose the time, so the calendar's hours, notice and horizon are not applied to a move.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from shared.domain.availability import Interval
from shared.domain.slot_locks import booking_cells
from shared.errors import Conflict
from shared.repositories.bookings import Booking
from shared.usecases.booking.deps import BookingDeps
from shared.usecases.booking.manage import _after_move, _lock_and_move, _Move, cancel_loaded

log = logging.getLogger("bookbridge.booking")


def cancel_by_host(deps: BookingDeps, booking: Booking) -> Booking:
    """The host deleted or declined the event: the booking is cancelled and the invitee told."""
    return cancel_loaded(deps, booking)


def move_by_host(deps: BookingDeps, booking: Booking, start: datetime, end: datetime) -> Booking | None:
    """The host moved the event: the booking moves there (same id and link, revision + 1); ``None`` when the
    new time is another booking's (the booking stays where it is)."""
    tail = booking.lock_tail_minutes or 0  # its buffer cells move with it (shared.domain.slot_locks)
    move = _Move(booking, Interval(start, end), deps.clock.now(),
                 booking_cells(start, end, timedelta(minutes=tail)), tail)
    try:
        updated = _lock_and_move(deps, move)
    except Conflict as exc:
        log.warning("booking %s: the host's move was not applied (%s)", booking.id, exc)
        return None
    _after_move(deps, move, updated)
    return updated


__all__ = ["cancel_by_host", "move_by_host"]
