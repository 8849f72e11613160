"""Small builders shared by the domain tests."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time
from typing import Any

from shared.domain.calendar_config import CalendarConfig, MemberConfig, TimeRange
from shared.domain.model import CalendarProvider, CalendarType, MeetingLocation

UTC = UTC
BERLIN = "Europe/Berlin"
WEEKDAYS_9_TO_12 = {day: (TimeRange(time(9), time(12)),)
                    for day in ("monday", "tuesday", "wednesday", "thursday", "friday")}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def hours(*pairs: tuple[str, str]) -> tuple[TimeRange, ...]:
    """``hours(("09:00", "12:00"))`` -> weekly-hours ranges."""
    return tuple(TimeRange(time.fromisoformat(a), time.fromisoformat(b) if b != "24:00" else time(0))
                 for a, b in pairs)


def member(user: str, **overrides: Any) -> MemberConfig:
    """A member with Microsoft free/busy and no meeting location unless overridden."""
    base = MemberConfig(user=user, meeting_location=MeetingLocation.NONE, custom_url=None,
                        calendar_provider=CalendarProvider.MICROSOFT)
    return replace(base, **overrides)


def config(**overrides: Any) -> CalendarConfig:
    """A valid personal Europe/Berlin calendar, Mon-Fri 09:00-12:00, 30-minute slots."""
    base = CalendarConfig(
        slug="demo", name="Demo", type=CalendarType.PERSONAL, timezone=BERLIN,
        duration_minutes=30, slot_interval_minutes=30, weekly_hours=WEEKDAYS_9_TO_12,
        buffer_before_minutes=0, buffer_after_minutes=0, minimum_notice_minutes=0,
        max_days_ahead=365, reminder_offsets_minutes=(1440, 60), members=(member("alice"),),
    )
    return replace(base, **overrides)
