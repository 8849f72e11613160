"""Rule 13: the 5-minute lock grid that makes double booking impossible. Pure.

A booking of a host is written together with one ``lock|{cell}`` row per 5-minute UTC cell its
``[start, end)`` touches, in ONE entity-group transaction in the host's partition of the
``schedule`` table. The cells are ``[floor(start), ceil(end))`` on the grid, so:

* two overlapping intervals always share a cell (a shared instant lies in some cell of both), and
  the second transaction fails on the existing row: no double booking, whatever the concurrency;
* two touching intervals ``[a, b)`` and ``[b, c)`` share no cell when ``b`` is on the grid, which
  holds for every slot: durations, intervals and weekly-hour bounds are multiples of 5 minutes and
  every current UTC offset is a multiple of 15 minutes.

Buffers are not locked: they are enforced by the availability re-check at confirmation.
"""
from __future__ import annotations

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
