"""Whether a requested start is a bookable slot, and whether members are free then."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from shared.domain.availability import Interval, candidate_slots, member_is_free
from shared.errors import (
    ValidationError,
)
from shared.repositories import calendars as calendar_repo
from shared.usecases.availability import gather
from shared.usecases.booking.deps import BookingDeps

log = logging.getLogger("bookbridge.booking")


def check_start(config: Any, start: datetime, now: datetime) -> Interval:
    """The slot starting at ``start`` if it is one of the calendar's bookable slots; 422 otherwise."""
    if start < now:
        raise ValidationError("start", "is in the past")
    if start < now + timedelta(minutes=config.minimum_notice_minutes):
        raise ValidationError("start", f"must be at least {config.minimum_notice_minutes} minutes from now "
                                       "(the calendar's minimum notice)")
    if start >= now + timedelta(days=config.max_days_ahead):
        raise ValidationError("start", f"is more than {config.max_days_ahead} days ahead")
    slot = Interval(start, start + timedelta(minutes=config.duration_minutes))
    if slot not in candidate_slots(config, Interval(start, start + timedelta(minutes=1)), now):
        raise ValidationError("start", "is not the start of one of this calendar's slots")
    return slot


def member_free(deps: BookingDeps, record: calendar_repo.CalendarRecord, users: list[str], slot: Interval,
                 *, exclude: str | None = None, ignore: Interval | None = None) -> list[str]:
    """Which of ``users`` may take ``slot`` right now (Outlook re-read; bookings when buffers apply).

    Without buffers the lock transaction itself decides about bookbridge bookings.
    """
    config = record.config
    buffers = bool(config.buffer_before_minutes or config.buffer_after_minutes)
    availability, booked = gather(deps.availability, record.workspace, record, users, slot,
                                  bookings=buffers, exclude_booking=exclude, ignore=ignore)
    return [u for u in users if config.member(u) is not None
            and member_is_free(config, u, slot, availability.get(u), booked.get(u, []))]
