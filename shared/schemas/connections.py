"""Request and response bodies of the Microsoft connections API, validated with pydantic.

Imported inside handlers only: ``import function_app`` must not load pydantic. The rules themselves
(what a return URL or tenant may be) live in ``shared.domain.connections`` and are reused here.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from shared.domain.connections import MAX_RETURN_URL, check_tenant, return_url_problem
from shared.domain.linked_calendar import MAX_CALENDAR_ID


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _check_return_url(value: str | None) -> str | None:
    if value is None:
        return None
    problem = return_url_problem(value)
    if problem:
        raise ValueError(problem)
    return value


class ConnectLinkIn(_Strict):
    """``POST .../connections/{kind}/connect-links`` (body optional)."""

    return_url: StrictStr | None = Field(default=None, max_length=MAX_RETURN_URL)

    _return_url = field_validator("return_url")(_check_return_url)


class AdminConsentLinkIn(_Strict):
    """``POST /api/workspaces/{workspace}/admin-consent-links`` (body optional)."""

    tenant: StrictStr | None = Field(default=None, min_length=1, max_length=253)
    return_url: StrictStr | None = Field(default=None, max_length=MAX_RETURN_URL)

    _return_url = field_validator("return_url")(_check_return_url)

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str | None) -> str | None:
        if value is not None and not check_tenant(value):
            raise ValueError("must be a tenant id (GUID), a verified domain or 'organizations'")
        return value


class LinkOut(BaseModel):
    """A one-time link: ``201 {"url", "expires_at", ...}``."""

    url: str
    expires_at: str
    kind: str | None = None
    tenant: str | None = None


class AccountOut(BaseModel):
    """The Microsoft account of a connection."""

    id: str | None
    tenant_id: str | None
    upn: str | None
    display_name: str | None


class LinkedCalendarIn(_Strict):
    """``PUT .../connections/microsoft_calendar``: the calendar of the connected account that gets the events."""

    linked_calendar_id: StrictStr = Field(min_length=1, max_length=MAX_CALENDAR_ID,
                                          description="an `id` from `GET .../connections/microsoft_calendar/calendars`")


class LinkedCalendarOut(BaseModel):
    """What the last check found of the linked calendar (rule 26)."""

    id: str | None = Field(description="null: the account's default calendar")
    name: str | None
    allows_teams: bool | None = Field(description="teamsForBusiness is in its allowedOnlineMeetingProviders")
    checked_at: str | None


class OutlookCalendarOut(BaseModel):
    """One calendar of the connected Microsoft account."""

    id: str
    name: str
    is_default: bool
    can_edit: bool
    allows_teams: bool


class CalendarsOut(BaseModel):
    """``GET .../connections/microsoft_calendar/calendars``."""

    workspace: str
    user: str
    linked_calendar_id: str | None = Field(description="the calendar events go to (the default one until chosen)")
    calendars: list[OutlookCalendarOut]


class ConnectionOut(BaseModel):
    """One connection slot."""

    kind: Literal["teams", "microsoft_calendar", "google_calendar"]
    status: Literal["connected", "needs_reauth", "disconnected"]
    account: AccountOut | None
    scopes: list[str]
    connected_at: str | None
    disconnected_at: str | None
    needs_reauth_at: str | None
    last_error: str | None
    consent_required: bool
    teams_unavailable: bool
    generation: int
    linked_calendar: LinkedCalendarOut | None = None
    problems: list[str] = Field(default_factory=list, description="what a person must fix, each saying what to do")


class ConnectionsOut(BaseModel):
    """``GET /api/workspaces/{workspace}/users/{user}/connections``."""

    workspace: str
    user: str
    connections: list[ConnectionOut]
