"""Rule 13: the 5-minute lock grid that makes double booking impossible. Pure.

A booking of a host is written together with one ``lock|{cell}`` row per 5-minute UTC cell its
``[start, end)`` touches, in ONE entity-group transaction in the host's partition of the
``schedule`` table. The cells are ``[floor(start), ceil(end))`` on the grid, so:

* two overlapping intervals always share a cell (a shared instant lies in some cell of both), and
  the second transaction fails on the existing row: no double booking, whatever the concurrency;
* two touching intervals ``[a, b)`` and ``[b, c)`` share no cell when ``b`` is on the grid, which
  holds for every slot: durations, intervals and weekly-hour bounds are multiples of 5 minutes and
  every current UTC offset is a multiple of 15 minutes.

Buffers are locked too (issue 15 point 7): a booking also locks the cells of ``[end, end + tail)``, its *buffer
cells* (``lock_kind: buffer`` on the row, so availability reads them as free time, not as the meeting), where
``tail`` is the longer of the calendar's two buffers (:func:`buffer_tail`). Why one side and the longer buffer:
the availability rule (``shared.domain.availability``) forbids a booking inside another's buffers but lets
buffers overlap buffers, so two bookings of one calendar need a gap of at least ``max(before, after)`` between
them, in either order; extending every booking by exactly that on one side makes two lock spans overlap exactly
when that gap is missing. Locking both buffers in full would demand ``before + after`` (buffers could not overlap),
and separate namespaces for meeting and buffer cells cannot be expressed with insert-only locks (a buffer cell
would have to collide with any meeting cell but with no other buffer cell). For bookings of calendars with
different buffers on one host, the locks guarantee the earlier booking's tail; the availability re-check at
confirmation applies the calendar's own buffers on both sides as before.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

GRID = timedelta(minutes=5)
LOCK_PREFIX = "lock|"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def floor_to_grid(value: datetime) -> datetime:
    """The grid instant at or before ``value`` (UTC)."""
    value = _utc(value, "value")
    return value - (value - _EPOCH) % GRID


def ceil_to_grid(value: datetime) -> datetime:
    """The grid instant at or after ``value`` (UTC)."""
    floored = floor_to_grid(value)
    return floored if floored == _utc(value, "value") else floored + GRID


def cell_key(cell_start: datetime) -> str:
    """The row key of the cell starting at ``cell_start``: ``lock|YYYYMMDDTHHMMZ``."""
    return LOCK_PREFIX + floor_to_grid(cell_start).strftime("%Y%m%dT%H%MZ")


def lock_cells(start_utc: datetime, end_utc: datetime) -> list[str]:
    """Row keys of every grid cell ``[start_utc, end_utc)`` touches, in time order."""
    start, end = _utc(start_utc, "start_utc"), _utc(end_utc, "end_utc")
    if end <= start:
        raise ValueError("end_utc must be after start_utc")
    cell, last = floor_to_grid(start), ceil_to_grid(end)
    keys: list[str] = []
    while cell < last:
        keys.append(cell_key(cell))
        cell += GRID
    return keys


def tail_minutes(before_minutes: int, after_minutes: int) -> int:
    """How many minutes past its end a booking locks: the longer of its calendar's buffers (see the module doc)."""
    return max(0, before_minutes, after_minutes)


def buffer_tail(before_minutes: int, after_minutes: int) -> timedelta:
    """:func:`tail_minutes` as a duration."""
    return timedelta(minutes=tail_minutes(before_minutes, after_minutes))


@dataclass(frozen=True)
class BookingCells:
    """The cells one booking locks: its meeting's, then its buffer tail's (none shared)."""

    meeting: tuple[str, ...]
    buffer: tuple[str, ...] = ()

    @property
    def all(self) -> list[str]:
        """Every cell, in time order."""
        return [*self.meeting, *self.buffer]

    def is_buffer(self, cell: str) -> bool:
        """True for a buffer cell."""
        return cell in self.buffer


def booking_cells(start_utc: datetime, end_utc: datetime, tail: timedelta = timedelta(0)) -> BookingCells:
    """The meeting cells of ``[start, end)`` and the buffer cells of ``[end, end + tail)``."""
    meeting = lock_cells(start_utc, end_utc)
    if tail <= timedelta(0):
        return BookingCells(tuple(meeting))
    taken = set(meeting)
    return BookingCells(tuple(meeting), tuple(c for c in lock_cells(end_utc, end_utc + tail) if c not in taken))
