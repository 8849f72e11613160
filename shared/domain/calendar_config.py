"""A calendar's scheduling settings as pure, frozen values, with validation and storage round trips.

The management API validates its JSON with pydantic and builds these dataclasses; storage keeps
them through :meth:`CalendarConfig.to_dict` / :meth:`CalendarConfig.from_dict` (JSON-friendly).
:func:`validate_calendar` returns every rule problem as a ``(field_path, reason)`` pair, with field
paths such as ``"weekly_hours.monday[1]"`` or ``"members[0].custom_url"``.

Weekly hours: each weekday maps to half-open wall-clock ranges ``[start, end)`` in the calendar's
timezone. A range may end at midnight: ``end == time(0, 0)`` (written ``"24:00"`` in JSON) means the
end of that day. Ranges never cross midnight.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.domain.link_rules import location_refusal
from shared.domain.meeting_options import MeetingOptions
from shared.domain.model import CalendarProvider, CalendarType, MeetingLocation

#: Weekday names in ``date.weekday()`` order (Monday == 0).
WEEKDAYS: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: Slot locks use a grid of this many minutes; durations, intervals and range bounds sit on it.
GRID_MINUTES = 5
MAX_DURATION_MINUTES = 480
MAX_SLOT_INTERVAL_MINUTES = 1440
MAX_BUFFER_MINUTES = 720
MAX_NOTICE_MINUTES = 365 * 1440
MAX_DAYS_AHEAD = 365
MAX_BOOKINGS_PER_HOUR = 10_000
MAX_REMINDER_OFFSET_MINUTES = 365 * 1440
MAX_WEIGHT = 100
#: What a host's delete (or decline) of a booking's event in Outlook does (rule 19); the first is the default.
EXTERNAL_DELETE_CHOICES = ("cancel_booking", "notify_host")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")

Problem = tuple[str, str]


@dataclass(frozen=True)
class TimeRange:
    """A wall-clock range ``[start, end)`` within one day; ``end == 00:00`` means midnight (24:00)."""

    start: time
    end: time

    @property
    def start_minutes(self) -> int:
        """Minutes after local midnight at which the range starts."""
        return self.start.hour * 60 + self.start.minute

    @property
    def end_minutes(self) -> int:
        """Minutes after local midnight at which the range ends (1440 for midnight)."""
        minutes = self.end.hour * 60 + self.end.minute
        return 1440 if minutes == 0 and not self.end.second and not self.end.microsecond else minutes


@dataclass(frozen=True)
class MemberConfig:
    """A user on a calendar, with their meeting location and free/busy provider."""

    user: str
    meeting_location: MeetingLocation = MeetingLocation.NONE
    custom_url: str | None = None
    calendar_provider: CalendarProvider = CalendarProvider.NONE
    weight: int = 1


@dataclass(frozen=True)
class CalendarConfig:
    """Everything that decides a calendar's slots, hosts and reminders."""

    slug: str
    name: str
    type: CalendarType
    timezone: str
    duration_minutes: int
    slot_interval_minutes: int
    weekly_hours: Mapping[str, tuple[TimeRange, ...]] = field(default_factory=dict, hash=False)
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    minimum_notice_minutes: int = 0
    max_days_ahead: int = 60
    reminder_offsets_minutes: tuple[int, ...] = ()
    #: Bookings this calendar takes per hour (rule 29); ``None``: the deployment's
    #: ``RATE_LIMIT_BOOKINGS_PER_CALENDAR`` (60 per hour unless set).
    bookings_per_hour: int | None = None
    #: Rule 19: the host deletes or declines the booking's event in Outlook -> ``cancel_booking`` (the invitee
    #: is told) or ``notify_host`` (the booking is kept and records it).
    external_delete: str = "cancel_booking"
    members: tuple[MemberConfig, ...] = ()
    meeting_options: MeetingOptions = field(default_factory=MeetingOptions)

    def __post_init__(self) -> None:
        # Accept lists from callers but keep the value immutable-in-spirit and comparable.
        object.__setattr__(self, "weekly_hours", {k: tuple(v) for k, v in self.weekly_hours.items()})
        object.__setattr__(self, "reminder_offsets_minutes", tuple(self.reminder_offsets_minutes))
        object.__setattr__(self, "members", tuple(self.members))

    @property
    def users(self) -> tuple[str, ...]:
        """The member user ids, in configuration order."""
        return tuple(m.user for m in self.members)

    def member(self, user: str) -> MemberConfig | None:
        """The member entry of ``user``, or ``None``."""
        return next((m for m in self.members if m.user == user), None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict with the API's field names (inverse of :meth:`from_dict`)."""
        return {
            "slug": self.slug,
            "name": self.name,
            "type": self.type.value,
            "timezone": self.timezone,
            "duration_minutes": self.duration_minutes,
            "slot_interval_minutes": self.slot_interval_minutes,
            "weekly_hours": {
                day: [{"start": format_hhmm(r.start), "end": format_hhmm(r.end, is_end=True)} for r in ranges]
                for day, ranges in self.weekly_hours.items()
            },
            "buffer_before_minutes": self.buffer_before_minutes,
            "buffer_after_minutes": self.buffer_after_minutes,
            "minimum_notice_minutes": self.minimum_notice_minutes,
            "max_days_ahead": self.max_days_ahead,
            "bookings_per_hour": self.bookings_per_hour,
            "external_delete": self.external_delete,
            "reminder_offsets_minutes": list(self.reminder_offsets_minutes),
            "meeting_options": self.meeting_options.to_dict(),
            "members": [
                {
                    "user": m.user,
                    "meeting_location": m.meeting_location.value,
                    "custom_url": m.custom_url,
                    "calendar_provider": m.calendar_provider.value,
                    "weight": m.weight,
                }
                for m in self.members
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalendarConfig:
        """Build from :meth:`to_dict` output (or the API's JSON); raises ``ValueError``/``KeyError`` on bad shapes."""
        return cls(
            slug=data["slug"],
            name=data["name"],
            type=CalendarType(data["type"]),
            timezone=data["timezone"],
            duration_minutes=int(data["duration_minutes"]),
            slot_interval_minutes=int(data["slot_interval_minutes"]),
            weekly_hours={
                day: tuple(TimeRange(parse_hhmm(r["start"]), parse_hhmm(r["end"])) for r in ranges)
                for day, ranges in (data.get("weekly_hours") or {}).items()
            },
            buffer_before_minutes=int(data.get("buffer_before_minutes", 0)),
            buffer_after_minutes=int(data.get("buffer_after_minutes", 0)),
            minimum_notice_minutes=int(data.get("minimum_notice_minutes", 0)),
            max_days_ahead=int(data.get("max_days_ahead", 60)),
            bookings_per_hour=(int(data["bookings_per_hour"]) if data.get("bookings_per_hour") is not None
                               else None),
            reminder_offsets_minutes=tuple(int(x) for x in data.get("reminder_offsets_minutes") or ()),
            external_delete=str(data.get("external_delete") or EXTERNAL_DELETE_CHOICES[0]),
            meeting_options=MeetingOptions.from_dict(data.get("meeting_options")),
            members=tuple(
                MemberConfig(
                    user=m["user"],
                    meeting_location=MeetingLocation(m.get("meeting_location", "none")),
                    custom_url=m.get("custom_url"),
                    calendar_provider=CalendarProvider(m.get("calendar_provider", "none")),
                    weight=int(m["weight"]) if m.get("weight") is not None else 1,
                )
                for m in data.get("members") or ()
            ),
        )


def parse_hhmm(text: str) -> time:
    """Parse ``"HH:MM"`` (``"24:00"`` is midnight at the end of the day, stored as ``00:00``)."""
    match = re.fullmatch(r"([01]\d|2[0-4]):([0-5]\d)", text.strip()) if isinstance(text, str) else None
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise ValueError(f"not a HH:MM time: {text!r}")
    hour = int(match.group(1))
    return time(0 if hour == 24 else hour, int(match.group(2)))


def format_hhmm(value: time, *, is_end: bool = False) -> str:
    """Format as ``"HH:MM"``; an end at midnight is written ``"24:00"``."""
    if is_end and value == time(0, 0):
        return "24:00"
    return f"{value.hour:02d}:{value.minute:02d}"


def is_valid_timezone(name: str) -> bool:
    """True when ``name`` is an IANA timezone known to ``zoneinfo``."""
    if not isinstance(name, str) or not name or name != name.strip():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _is_grid_multiple(value: int) -> bool:
    return isinstance(value, int) and value > 0 and value % GRID_MINUTES == 0


def _validate_weekly_hours(config: CalendarConfig) -> list[Problem]:
    problems: list[Problem] = []
    if not any(config.weekly_hours.values()):
        problems.append(("weekly_hours", "at least one weekly range is required, for example "
                                         '{"monday": [{"start": "09:00", "end": "17:00"}]}; '
                                         "without one the calendar never offers a time"))
    for day, ranges in config.weekly_hours.items():
        if day not in WEEKDAYS:
            problems.append((f"weekly_hours.{day}", f"unknown weekday; use one of {', '.join(WEEKDAYS)}"))
            continue
        valid: list[tuple[int, int, int]] = []  # (start, end, index)
        for i, r in enumerate(ranges):
            path = f"weekly_hours.{day}[{i}]"
            if any(t.second or t.microsecond or t.minute % GRID_MINUTES for t in (r.start, r.end)):
                problems.append((path, f"start and end must be on the {GRID_MINUTES}-minute grid"))
            elif r.end_minutes <= r.start_minutes:
                problems.append((path, "end must be after start"))
            elif r.end_minutes - r.start_minutes < config.duration_minutes:
                problems.append((path, f"shorter than the {config.duration_minutes}-minute duration"))
            else:
                valid.append((r.start_minutes, r.end_minutes, i))
        valid.sort()
        for (_, prev_end, prev_i), (start, _, i) in zip(valid, valid[1:], strict=False):
            if start < prev_end:
                problems.append((f"weekly_hours.{day}[{i}]", f"overlaps weekly_hours.{day}[{prev_i}]"))
    return problems


def _validate_members(config: CalendarConfig, known_users: Collection[str] | None) -> list[Problem]:
    problems: list[Problem] = []
    if not config.members:
        return [("members", "at least one member is required")]
    if config.type is CalendarType.PERSONAL and len(config.members) > 1:
        problems.append(("members", "a personal calendar has exactly one member"))
    seen: set[str] = set()
    event_url: str | None = None
    for i, m in enumerate(config.members):
        path = f"members[{i}]"
        if not m.user:
            problems.append((f"{path}.user", "required"))
        elif m.user in seen:
            problems.append((f"{path}.user", "duplicate member"))
        elif known_users is not None and m.user not in known_users:
            problems.append((f"{path}.user", "unknown user in this workspace"))
        seen.add(m.user)
        refusal = location_refusal(config.type, m.meeting_location)
        if refusal:
            problems.append((f"{path}.meeting_location", refusal))
        if m.meeting_location is MeetingLocation.CUSTOM:
            if not m.custom_url:
                problems.append((f"{path}.custom_url", "required when meeting_location is custom"))
            elif not _is_web_url(m.custom_url):
                problems.append((f"{path}.custom_url", "must be an absolute http(s) URL"))
            elif config.type is CalendarType.EVENT:
                event_url = event_url or m.custom_url
                if m.custom_url != event_url:
                    problems.append((f"{path}.custom_url",
                                     "event calendars use the same static link for every booking"))
        if not isinstance(m.weight, int) or not 1 <= m.weight <= MAX_WEIGHT:
            problems.append((f"{path}.weight", f"must be an integer from 1 to {MAX_WEIGHT}"))
    return problems


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("https", "http") and bool(parts.netloc) and not any(c.isspace() for c in url)


def _validate_numbers(config: CalendarConfig) -> list[Problem]:
    problems: list[Problem] = []
    if not _is_grid_multiple(config.duration_minutes):
        problems.append(("duration_minutes", f"must be a positive multiple of {GRID_MINUTES} minutes"))
    elif config.duration_minutes > MAX_DURATION_MINUTES:
        problems.append(("duration_minutes", f"must be at most {MAX_DURATION_MINUTES} minutes"))
    if not _is_grid_multiple(config.slot_interval_minutes):
        problems.append(("slot_interval_minutes", f"must be a positive multiple of {GRID_MINUTES} minutes"))
    elif config.slot_interval_minutes > MAX_SLOT_INTERVAL_MINUTES:
        problems.append(("slot_interval_minutes", f"must be at most {MAX_SLOT_INTERVAL_MINUTES} minutes"))
    for name, upper in (("buffer_before_minutes", MAX_BUFFER_MINUTES), ("buffer_after_minutes", MAX_BUFFER_MINUTES),
                        ("minimum_notice_minutes", MAX_NOTICE_MINUTES)):
        value = getattr(config, name)
        if not isinstance(value, int) or not 0 <= value <= upper:
            problems.append((name, f"must be an integer from 0 to {upper}"))
    if not isinstance(config.max_days_ahead, int) or not 1 <= config.max_days_ahead <= MAX_DAYS_AHEAD:
        problems.append(("max_days_ahead", f"must be from 1 to {MAX_DAYS_AHEAD} days"))
    per_hour = config.bookings_per_hour
    if per_hour is not None and (not isinstance(per_hour, int) or not 1 <= per_hour <= MAX_BOOKINGS_PER_HOUR):
        problems.append(("bookings_per_hour", f"must be a whole number from 1 to {MAX_BOOKINGS_PER_HOUR}, or null "
                                              "for the deployment's default (RATE_LIMIT_BOOKINGS_PER_CALENDAR)"))
    if config.external_delete not in EXTERNAL_DELETE_CHOICES:
        problems.append(("external_delete", f"must be one of {', '.join(EXTERNAL_DELETE_CHOICES)}"))
    seen: set[int] = set()
    for i, offset in enumerate(config.reminder_offsets_minutes):
        path = f"reminder_offsets_minutes[{i}]"
        if not isinstance(offset, int) or not 0 < offset <= MAX_REMINDER_OFFSET_MINUTES:
            problems.append((path, f"must be a positive number of minutes up to {MAX_REMINDER_OFFSET_MINUTES}"))
        elif offset in seen:
            problems.append((path, "duplicate reminder offset"))
        seen.add(offset)
    return problems


def validate_calendar(config: CalendarConfig, known_users: Collection[str] | None = None) -> list[Problem]:
    """Every rule ``config`` breaks, as ``(field_path, reason)`` pairs; empty when valid.

    ``known_users``: the workspace's user ids; when ``None`` the "unknown user" check is skipped.
    """
    problems: list[Problem] = []
    if not isinstance(config.slug, str) or not _SLUG.match(config.slug):
        problems.append(("slug", "1-64 lowercase letters, digits or hyphens, not starting or ending with a hyphen"))
    if not isinstance(config.name, str) or not config.name.strip():
        problems.append(("name", "required"))
    if not is_valid_timezone(config.timezone):
        problems.append(("timezone", "must be an IANA timezone name such as Europe/Berlin"))
    problems += _validate_numbers(config)
    problems += _validate_weekly_hours(config)
    problems += _validate_members(config, known_users)
    return problems
