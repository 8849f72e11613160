"""Public booking: intake, status, cancel and reschedule, without double booking (rule 13).

Double booking is impossible by construction: a booking row and one ``lock|{cell}`` row per
5-minute cell of its time are created in ONE entity-group transaction in the host's partition of
``schedule`` (``{ws}|{host}``); a second booking of the same host and time hits an existing lock
and the whole transaction fails. Collective bookings lock every member: first the other members'
partitions (sorted by user id, locks only), last the primary host's partition (booking + locks),
which is the commit point; if any step fails the locks already taken are removed again. A lock
older than two minutes whose booking is missing, cancelled or no longer covers the cell (a crash
between partitions) is stale: it is deleted with its ETag and the lock retried.

Storage per intake (personal calendar, no buffers, no Idempotency-Key): slug row (1 read), the
host's ``teams`` connection row when the location is Teams (1 read), ONE transaction, and the
queue messages of ``booking_events``. Round robin adds the stats row read + its ETag update;
buffers add one lock-range query per checked member; Microsoft free/busy adds the member's
connection row, token and one Graph call; an Idempotency-Key adds a claim insert + update.

Layout: ``deps`` (ports, limits, request and result), ``views`` (bodies, manage token), ``slots``,
``locks``, ``idempotency`` (``Idempotency-Key`` claims), ``intake`` (``create_booking``), ``manage``
(read, cancel, reschedule).
"""
from __future__ import annotations

from shared.usecases.booking.deps import (
    AWAITING,
    LOCK_ATTEMPTS,
    MANAGE_PURPOSE,
    STALE_CLAIM_AGE,
    STALE_LOCK_AGE,
    BookingDeps,
    BookingRequest,
    BookingResult,
)
from shared.usecases.booking.intake import create_booking
from shared.usecases.booking.locks import release_locks
from shared.usecases.booking.manage import cancel_booking, get_booking, reschedule_booking
from shared.usecases.booking.slots import check_start
from shared.usecases.booking.views import booking_view, manage_token

__all__ = [
    "AWAITING", "LOCK_ATTEMPTS", "MANAGE_PURPOSE", "STALE_CLAIM_AGE", "STALE_LOCK_AGE", "BookingDeps",
    "BookingRequest", "BookingResult", "booking_view", "cancel_booking",
    "check_start", "create_booking", "get_booking", "manage_token", "release_locks", "reschedule_booking",
]
