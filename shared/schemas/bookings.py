"""Request bodies and query strings of the public booking API, validated with pydantic.

Imported inside handlers only: ``import function_app`` must not load pydantic.
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationInfo, field_validator

from shared.domain.input_limits import DATE_RANGE_REASON, date_in_range, name_problem, notes_problem, year_in_range
from shared.schemas.calendars import check_email, check_timezone

MAX_RANGE_DAYS = 62


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def parse_instant(value: str) -> datetime:
    """An ISO-8601 instant WITH an offset (``Z`` or ``+01:00``), as aware UTC."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO-8601 date-time such as 2026-11-23T09:30:00Z") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("must carry a UTC offset (Z or +hh:mm)")
    if not year_in_range(parsed):
        raise ValueError(DATE_RANGE_REASON)
    return parsed.astimezone(UTC)


def check_invitee_email(value: str) -> str:
    """An address the mail transports accept, in the mail layer's normal form (IDNA domain)."""
    from shared.errors import DeliveryRejected
    from shared.mail.message import normalize_address

    check_email(value)
    try:
        return normalize_address(value)
    except DeliveryRejected as exc:
        raise ValueError(exc.message) from None


def check_name(value: str) -> str:
    """A display name without control, line-break or bidi characters."""
    problem = name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def check_notes(value: str | None) -> str | None:
    """Notes without control or bidi characters (tab and line breaks kept)."""
    problem = notes_problem(value) if value is not None else None
    if problem:
        raise ValueError(problem)
    return value


class SlotsQuery(_Strict):
    """``GET /api/calendars/{slug}/slots?start=YYYY-MM-DD&end=YYYY-MM-DD&timezone=Area/City``."""

    start: date
    end: date
    timezone: StrictStr | None = Field(default=None, max_length=64)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError("must be a date YYYY-MM-DD")
        return value

    @field_validator("start", "end")
    @classmethod
    def _sane(cls, value: date) -> date:
        if not date_in_range(value):
            raise ValueError(DATE_RANGE_REASON)
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @field_validator("end")
    @classmethod
    def _range(cls, value: date, info: ValidationInfo) -> date:
        start = info.data.get("start")
        if start is None:
            return value
        if value < start:
            raise ValueError("end must not be before start")
        if (value - start).days + 1 > MAX_RANGE_DAYS:
            raise ValueError(f"the range from start to end may cover at most {MAX_RANGE_DAYS} days")
        return value


class _StartIn(_Strict):
    start: StrictStr = Field(min_length=1, max_length=64)

    @field_validator("start")
    @classmethod
    def _instant(cls, value: str) -> str:
        parse_instant(value)
        return value

    @property
    def start_utc(self) -> datetime:
        """The requested start, aware UTC."""
        return parse_instant(self.start)


class BookingIn(_StartIn):
    """``POST /api/calendars/{slug}/bookings``."""

    name: StrictStr = Field(min_length=1, max_length=200)
    email: StrictStr = Field(min_length=3, max_length=254)
    timezone: StrictStr = Field(min_length=1, max_length=64)
    notes: StrictStr | None = Field(default=None, max_length=2000)
    time_format: Literal["12h", "24h"] | None = Field(
        default=None, description="the invitee's clock (the page sends its locale's): times in emails use it")
    human_check_token: StrictStr | None = Field(default=None, max_length=2048)
    website: StrictStr | None = Field(default=None, max_length=500)
    fill_ms: StrictInt | None = Field(default=None, ge=0, le=7 * 24 * 3600 * 1000)

    _tz = field_validator("timezone")(check_timezone)
    _email = field_validator("email")(check_invitee_email)
    _name = field_validator("name")(check_name)
    _notes = field_validator("notes")(check_notes)


class RescheduleIn(_StartIn):
    """``POST /api/bookings/{id}/reschedule``."""


class HostBookingsQuery(BaseModel):
    """``GET /api/workspaces/{ws}/users/{user}/bookings?from=&to=&link_status=`` (instants with an offset)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    start_from: datetime | None = Field(default=None, alias="from", description="bookings starting at or after")
    start_to: datetime | None = Field(default=None, alias="to", description="bookings starting before")
    link_status: Literal["not_applicable", "pending", "created", "awaiting_connection", "retrying",
                         "failed", "static"] | None = None

    @field_validator("start_from", "start_to", mode="before")
    @classmethod
    def _instant(cls, value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("must be an ISO-8601 date-time such as 2026-11-23T09:30:00Z")
        return parse_instant(value)
