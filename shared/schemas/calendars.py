"""Request bodies of the management API (workspaces, users, calendars), validated with pydantic.

Shape and type checks live here (strict: ``"30"`` is not an integer, unknown fields are refused);
the calendar rules that span fields (Teams on class/event, custom without URL, overlapping weekly
ranges, one member on a personal calendar, ...) are ``shared.domain.calendar_config.validate_calendar``.
Imported inside handlers only: ``import function_app`` must not load pydantic.
"""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

from shared.domain.calendar_config import WEEKDAYS, CalendarConfig, is_valid_timezone

EMAIL_RE = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
HHMM_RE = r"^([01]\d|2[0-4]):[0-5]\d$"

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
assert tuple(Weekday.__args__) == WEEKDAYS  # type: ignore[attr-defined]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def check_timezone(value: str) -> str:
    """An IANA timezone name, or a ``ValueError`` naming the problem."""
    if not is_valid_timezone(value):
        raise ValueError("must be an IANA timezone name such as Europe/Berlin")
    return value


def check_email(value: str) -> str:
    """A plausible e-mail address (one ``@``, a dot in the domain, no spaces)."""
    if not EMAIL_RE.match(value):
        raise ValueError("must be an e-mail address")
    return value


class WorkspaceIn(_Strict):
    """``PUT /api/workspaces/{workspace}``."""

    name: StrictStr = Field(min_length=1, max_length=200)


class UserIn(_Strict):
    """``PUT /api/workspaces/{workspace}/users/{user}``."""

    name: StrictStr = Field(min_length=1, max_length=200)
    email: StrictStr = Field(min_length=3, max_length=254)
    timezone: StrictStr = Field(min_length=1, max_length=64)

    _tz = field_validator("timezone")(check_timezone)
    _email = field_validator("email")(check_email)


class TimeRangeIn(_Strict):
    """One weekly range ``{"start": "09:00", "end": "12:00"}`` (``"24:00"`` ends at midnight)."""

    start: StrictStr = Field(pattern=HHMM_RE)
    end: StrictStr = Field(pattern=HHMM_RE)


class MemberIn(_Strict):
    """A member of a calendar."""

    user: StrictStr = Field(pattern=ID_RE)
    meeting_location: Literal["teams", "custom", "google_meet", "none"] = "none"
    custom_url: StrictStr | None = Field(default=None, max_length=1000)
    calendar_provider: Literal["none", "microsoft", "google"] = "none"
    weight: StrictInt | None = None


class MeetingOptionsIn(_Strict):
    """``meeting_options`` of a calendar (rule 25): applied to each booking's Teams meeting."""

    lobby_bypass: Literal["tenant_default", "organizer", "organization", "everyone"] = "tenant_default"
    allowed_presenters: Literal["tenant_default", "organizer", "everyone"] = "tenant_default"
    record_automatically: StrictBool = False


class CalendarIn(_Strict):
    """``PUT /api/workspaces/{workspace}/calendars/{calendar}``."""

    slug: StrictStr = Field(min_length=1, max_length=64)
    name: StrictStr = Field(min_length=1, max_length=200)
    type: Literal["personal", "round_robin", "collective", "service", "class", "event"]
    timezone: StrictStr = Field(min_length=1, max_length=64)
    duration_minutes: StrictInt
    slot_interval_minutes: StrictInt | None = None
    weekly_hours: dict[Weekday, list[TimeRangeIn]] = Field(default_factory=dict)
    buffer_before_minutes: StrictInt = 0
    buffer_after_minutes: StrictInt = 0
    minimum_notice_minutes: StrictInt = 0
    max_days_ahead: StrictInt = 60
    bookings_per_hour: StrictInt | None = Field(default=None, description=(
        "Bookings this calendar takes per hour; null: the deployment's RATE_LIMIT_BOOKINGS_PER_CALENDAR "
        "(60 per hour unless set). A host expecting more raises it here."))
    reminder_offsets_minutes: list[StrictInt] = Field(default_factory=list, max_length=10)
    external_delete: Literal["cancel_booking", "notify_host"] = Field(default="cancel_booking", description=(
        "When the host deletes or declines a booking's event in Outlook: cancel the booking and tell the invitee "
        "(cancel_booking), or keep it and record it on the booking for the host (notify_host)"))
    members: list[MemberIn] = Field(min_length=1, max_length=50)
    meeting_options: MeetingOptionsIn | None = None

    _tz = field_validator("timezone")(check_timezone)

    @field_validator("weekly_hours")
    @classmethod
    def _ranges_per_day(cls, value: dict[str, list[TimeRangeIn]]) -> dict[str, list[TimeRangeIn]]:
        for day, ranges in value.items():
            if len(ranges) > 12:
                raise ValueError(f"{day}: at most 12 ranges per day")
        return value

    def to_config(self) -> CalendarConfig:
        """The domain value (rules are checked separately by ``validate_calendar``)."""
        data: dict[str, Any] = self.model_dump()
        if data["slot_interval_minutes"] is None:
            data["slot_interval_minutes"] = data["duration_minutes"]
        for m in data["members"]:
            if m["meeting_location"] != "custom" and m["custom_url"] is None:
                m.pop("custom_url")
        return CalendarConfig.from_dict(data)
