"""Response bodies of the HTTP API, as pydantic models: the OpenAPI document's response schemas.

The use cases build plain dicts; these models describe them (``shared.schemas.openapi``) and tests hold
the two together (schemathesis checks every response against the document). Fields that may be absent
are ``Optional`` with a default; unknown fields are allowed so that adding a field is not a breaking change.
Imported inside handlers only: ``import function_app`` must not load pydantic.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.schemas.connections import LinkedCalendarOut

LinkStatus = Literal["not_applicable", "pending", "created", "awaiting_connection", "retrying", "failed", "static"]
CalendarType = Literal["personal", "round_robin", "collective", "service", "class", "event"]


class FieldProblem(BaseModel):
    """One invalid field and why."""

    field: str
    reason: str


class ErrorDetail(BaseModel):
    """What went wrong: a stable ``code``, a message, and for 422 the field(s) and reason(s)."""

    code: str = Field(description="stable machine-readable code, e.g. validation_error, not_found, conflict")
    message: str
    field: str | None = Field(default=None, description="422: the first invalid field (dotted path)")
    reason: str | None = Field(default=None, description="422: why the first field is invalid")
    errors: list[FieldProblem] | None = Field(default=None, description="422: every invalid field")


class ErrorOut(BaseModel):
    """The body of every JSON error response."""

    error: ErrorDetail


class StorageProbe(BaseModel):
    """Whether one storage service answered."""

    reachable: bool
    reason: str | None = None


class HealthStorage(BaseModel):
    """Table and Queue storage probes."""

    tables: StorageProbe
    queues: StorageProbe


class HealthOut(BaseModel):
    """``GET /api/health`` (the same body with 503 when storage does not answer)."""

    status: Literal["healthy", "unhealthy"]
    version: str
    storage: HealthStorage


class WorkspaceOut(BaseModel):
    """A workspace."""

    workspace: str
    name: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class UserOut(BaseModel):
    """A user of a workspace (a calendar member)."""

    workspace: str
    user: str
    name: str | None = None
    email: str | None = None
    timezone: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class TimeRangeOut(BaseModel):
    """A weekly range, ``HH:MM`` (``24:00`` ends at midnight)."""

    start: str
    end: str


class MemberOut(BaseModel):
    """A calendar member as stored."""

    user: str
    meeting_location: Literal["teams", "custom", "none"]
    custom_url: str | None = None
    calendar_provider: Literal["none", "microsoft"]
    weight: int | None = None


class CalendarOut(BaseModel):
    """A calendar as stored (the same fields as the ``PUT`` body, defaults filled in)."""

    slug: str
    name: str
    type: CalendarType
    timezone: str
    duration_minutes: int
    slot_interval_minutes: int
    weekly_hours: dict[str, list[TimeRangeOut]]
    buffer_before_minutes: int
    buffer_after_minutes: int
    minimum_notice_minutes: int
    max_days_ahead: int
    bookings_per_hour: int | None = None
    external_delete: str = "cancel_booking"
    reminder_offsets_minutes: list[int]
    members: list[MemberOut]


class FreeBusyOut(BaseModel):
    """Whether a member's free/busy could be read."""

    readable: bool
    reason: str | None = None
    checked_at: str | None = None


class DiagnosticMemberOut(BaseModel):
    """One member of a calendar's diagnostics."""

    user: str
    meeting_location: str
    calendar_provider: str
    teams_connection: str = Field(description="connected, needs_reauth, disconnected or missing")
    free_busy: FreeBusyOut
    linked_calendar: LinkedCalendarOut | None = Field(
        default=None, description="what the last check of the member's linked Outlook calendar found (rule 26)")
    ready: bool = Field(description="the member can produce what the calendar promises")
    problems: list[str] = Field(description="what stops the member, each saying what to do (empty when ready)")


class DiagnosticsOut(BaseModel):
    """``GET .../calendars/{calendar}/diagnostics``."""

    workspace: str
    calendar: str
    slug: str
    type: CalendarType
    members: list[DiagnosticMemberOut]
    problems: list[str] = Field(description="the calendar's own problems (no weekly hours) and every member's")
    ready: bool


class LastSweepOut(BaseModel):
    """The host's last backfill sweep."""

    swept_at: str | None = None
    trigger: str | None = None
    run_id: str | None = None
    connection_status: str | None = None
    generation: int | None = None
    candidates: int | None = None
    enqueued: int | None = None
    waiting: int | None = None
    lost_claims: int | None = None
    stale_removed: int | None = None
    remaining: int | None = None
    cut_short: bool | None = None


class BackfillOut(BaseModel):
    """``GET .../users/{user}/backfill``."""

    workspace: str
    user: str
    teams_connection: str | None = None
    candidates: int
    last_sweep: LastSweepOut | None = None


class HostOut(BaseModel):
    """A host of a calendar or booking."""

    user: str
    name: str | None = None


class PublicCalendarOut(BaseModel):
    """What an invitee sees of a calendar."""

    slug: str
    name: str
    type: CalendarType
    timezone: str
    duration_minutes: int
    slot_interval_minutes: int
    minimum_notice_minutes: int
    max_days_ahead: int
    hosts: list[HostOut]


class SlotOut(BaseModel):
    """A free slot (UTC instants)."""

    start: str
    end: str


class HumanCheckOut(BaseModel):
    """The challenge the booking form renders; its token is sent as ``field`` with the booking."""

    provider: Literal["turnstile"]
    site_key: str
    field: Literal["human_check_token"]


class SlotsOut(BaseModel):
    """``GET /api/calendars/{slug}/slots``."""

    calendar: PublicCalendarOut
    timezone: str
    slots: list[SlotOut]
    human_check: HumanCheckOut | None = None


class BookingCalendarOut(BaseModel):
    """The calendar a booking belongs to."""

    slug: str
    name: str | None = None
    type: CalendarType | None = None


class InviteeOut(BaseModel):
    """The invitee of a booking."""

    name: str
    email: str
    timezone: str


class _BookingSummary(BaseModel):
    id: str
    status: Literal["confirmed", "cancelled"]
    start: str
    end: str
    timezone: str
    calendar: BookingCalendarOut
    hosts: list[HostOut]
    link_status: LinkStatus
    meeting_url: str | None = None


class BookingCreatedOut(_BookingSummary):
    """``201`` of ``POST /api/calendars/{slug}/bookings``: the manage token is handed out here."""

    manage_token: str


class BookingOut(_BookingSummary):
    """A booking as its manage-token holder sees it."""

    invitee: InviteeOut
    notes: str | None = None
    link_reason: str | None = None
    revision: int
    delivery_error: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    manage_token: str | None = Field(default=None, description="a new token after a reschedule")


class OrganizerOut(BaseModel):
    """The Microsoft account that organizes a booking's meeting."""

    upn: str | None = None
    oid: str | None = None


class ParticipantOut(BaseModel):
    """A host of a booking and the state of its calendar event."""

    user: str
    role: Literal["organizer", "co_host"]
    event: str = Field(description="their own calendar event: none, written, retrying, failed, cancelled")
    provider: Literal["microsoft", "google"] | None = Field(
        default=None, description="a co-host's: the calendar their event is written to (Outlook or Google)")
    error: str | None = Field(default=None, description="why a co-host's event is retrying or failed")


class GoogleEventOut(BaseModel):
    """The booking's event in the host's Google calendar (rule 28)."""

    event: Literal["written", "cancelled", "none"]
    event_id: str | None = None
    sync_error: str | None = Field(default=None, description="why the Google event is behind (retried on the "
                                   "next change or reconnect)")


class AdminInviteeOut(BaseModel):
    """The invitee as an admin sees it."""

    name: str | None = None
    email: str | None = None


class AdminBookingOut(BaseModel):
    """A booking as a host or workspace admin sees it (``GET /api/workspaces/{ws}/bookings/{id}``)."""

    id: str
    workspace: str
    host: str
    calendar: str | None = None
    status: Literal["confirmed", "cancelled"]
    start: str
    end: str
    revision: int
    invitee: AdminInviteeOut
    link_status: LinkStatus
    link_reason: str | None = None
    next_attempt_at: str | None = Field(default=None, description="when a retrying booking is tried again")
    meeting_url: str | None = None
    organizer: OrganizerOut | None = None
    graph_sync_error: str | None = None
    delivery_error: str | None = None
    google: GoogleEventOut | None = Field(default=None, description="the event in the host's Google calendar "
                                          "(hosts whose calendar provider is google, or Google Meet)")
    participants: list[ParticipantOut]
    history: list[dict[str, Any]] = Field(description="each transition: at, state, cause")
    orphans: list[dict[str, Any]] = Field(default_factory=list, description="meetings left under a previous "
                                          "organizer account (organizer_oid/tid, join_url): for a person to remove")
    created_at: str | None = None
    updated_at: str | None = None


class HostBookingsOut(BaseModel):
    """``GET /api/workspaces/{ws}/users/{user}/bookings``."""

    workspace: str
    user: str
    bookings: list[AdminBookingOut]
    truncated: bool
