"""Dates and times as the messages show them: in the reader's time zone, named, never ambiguous."""
from __future__ import annotations

from datetime import UTC, datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def _zone(name: str | None) -> ZoneInfo | timezone:
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _zone_label(tz: ZoneInfo | timezone, local: datetime) -> str:
    key = getattr(tz, "key", "UTC")
    abbr = local.tzname() or ""
    if abbr and abbr[0] in "+-":
        abbr = f"UTC{abbr}"
    return key if abbr in ("", key) else f"{key}, {abbr}"


def _date(local: datetime) -> str:
    return f"{_DAYS[local.weekday()]}, {local.day} {_MONTHS[local.month - 1]} {local.year}"


def clock(local: datetime, time_format: str | None = None) -> str:
    """``14:05`` (24-hour, the default) or ``2:05 PM`` (``time_format="12h"``), as the booking page shows it."""
    if time_format == "12h":
        return f"{local.hour % 12 or 12}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"
    return f"{local:%H:%M}"


def format_time_range(start_utc: datetime, end_utc: datetime, tz_name: str | None,
                      time_format: str | None = None) -> str:
    """``Tuesday, 3 March 2026, 14:00 - 14:30 (Europe/Berlin, CET)`` in ``tz_name``
    (UTC when the zone is unknown); ``2:00 PM - 2:30 PM`` with ``time_format="12h"``."""
    tz = _zone(tz_name)
    start = _aware(start_utc).astimezone(tz)
    end = _aware(end_utc).astimezone(tz)
    if start.date() == end.date():
        span = f"{_date(start)}, {clock(start, time_format)} - {clock(end, time_format)}"
    else:
        span = f"{_date(start)}, {clock(start, time_format)} - {_date(end)}, {clock(end, time_format)}"
    return f"{span} ({_zone_label(tz, start)})"


def short_when(start_utc: datetime, tz_name: str | None, time_format: str | None = None) -> str:
    tz = _zone(tz_name)
    start = _aware(start_utc).astimezone(tz)
    abbr = start.tzname() or "UTC"
    if abbr[0] in "+-":
        abbr = f"UTC{abbr}"
    when = clock(start, time_format)
    return f"{_DAYS[start.weekday()][:3]} {start.day} {_MONTHS[start.month - 1][:3]} {when} {abbr}"


def in_how_long(minutes: int) -> str:
    for unit, size in (("day", 1440), ("hour", 60)):
        if minutes >= size and minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
