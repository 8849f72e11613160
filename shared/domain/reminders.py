"""Reminder scheduling without a sweep: pure rules for due times and queue visibility delays.

A reminder is one ``communications`` message per offset, put on the queue when the confirmation
(or a reschedule notice) is sent, invisible until it is due. Storage queues hide a message for at
most 7 days and, with the default time-to-live of 7 days, a message must become visible before it
expires; so a delay is capped at :data:`MAX_VISIBILITY_SECONDS` (6 days: one day of margin for a
host that is down when it becomes visible). A reminder that arrives more than
:data:`EARLY_TOLERANCE_SECONDS` before it is due puts itself back with the remaining delay (capped
again): a booking 30 days ahead hops 6 + 6 + 6 + 6 + 5.x days. Nothing here reads a clock.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: Longest visibility delay we ask the queue for (7 days minus one day of margin before the TTL).
MAX_VISIBILITY_SECONDS = 6 * 24 * 3600
#: A reminder arriving at most this early is sent at once.
EARLY_TOLERANCE_SECONDS = 60
#: Longest offset accepted (the calendar's validation allows far less; this guards bad data).
MAX_OFFSET_MINUTES = 366 * 24 * 60


@dataclass(frozen=True)
class PlannedReminder:
    """One reminder to enqueue: its offset, when it is due, and the first visibility delay."""

    offset_minutes: int
    due_at: datetime
    delay_seconds: int


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return value.astimezone(UTC)


def clean_offsets(offsets: Iterable[object]) -> list[int]:
    """Distinct positive integer offsets (minutes), largest first; anything else is ignored."""
    seen: set[int] = set()
    for raw in offsets or ():
        if isinstance(raw, bool):
            continue
        try:
            value = int(raw)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            continue
        if 0 < value <= MAX_OFFSET_MINUTES:
            seen.add(value)
    return sorted(seen, reverse=True)


def due_time(start_utc: datetime, offset_minutes: int) -> datetime:
    """When the reminder ``offset_minutes`` before ``start_utc`` is due."""
    return _utc(start_utc) - timedelta(minutes=int(offset_minutes))


def visibility_delay(due_at: datetime, now: datetime) -> int:
    """Seconds to hide a message due at ``due_at``: ``min(due - now, MAX_VISIBILITY_SECONDS)``, >= 0."""
    remaining = (_utc(due_at) - _utc(now)).total_seconds()
    if remaining <= 0:
        return 0
    return int(min(MAX_VISIBILITY_SECONDS, math.ceil(remaining)))


def plan_reminders(start_utc: datetime, offsets: Iterable[object], now: datetime) -> list[PlannedReminder]:
    """The reminders to enqueue for a meeting at ``start_utc``, scheduled at ``now``.

    Reminders whose due time is not after ``now`` are left out (a booking made 30 minutes before
    its start gets no 60-minute reminder), and so is everything once the meeting has started.
    """
    start, current = _utc(start_utc), _utc(now)
    if start <= current:
        return []
    planned = []
    for offset in clean_offsets(offsets):
        due = due_time(start, offset)
        if due <= current:
            continue
        planned.append(PlannedReminder(offset, due, visibility_delay(due, current)))
    return planned


def requeue_delay(due_at: datetime, now: datetime) -> int | None:
    """For a reminder arriving at ``now``: ``None`` when it should be sent now (due, or at most
    :data:`EARLY_TOLERANCE_SECONDS` early), else the visibility delay of its re-queued copy."""
    remaining = (_utc(due_at) - _utc(now)).total_seconds()
    if remaining <= EARLY_TOLERANCE_SECONDS:
        return None
    return visibility_delay(due_at, now)


def is_too_late(start_utc: datetime, now: datetime) -> bool:
    """True when a reminder arrives after the meeting has started (it is then dropped)."""
    return _utc(now) >= _utc(start_utc)
