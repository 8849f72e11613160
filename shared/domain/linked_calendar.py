"""The host's linked Outlook calendar: which calendar of the connected account gets the booking events, and
whether Teams meetings can be made on it (SPEC rules 8, 9 and 26). Pure: no I/O.

Graph lists a mailbox's calendars with ``GET /me/calendars?$select=`` :data:`CALENDAR_SELECT` ("List
calendars"); a calendar supports the online meeting providers its ``allowedOnlineMeetingProviders`` lists
("calendar resource type"; "Create or set an event as an online meeting in an Outlook calendar"). An event
asked for with ``isOnlineMeeting`` on a calendar without ``teamsForBusiness`` gets no Teams meeting while
Outlook still invites its attendees, so such a calendar takes the Teams-only path (``createOrGet`` plus an
event carrying the link; the invitation is the confirmation's .ics).

What is known is kept on the ``microsoft_calendar`` connection row: ``linked_calendar_id`` ('' = the
account's default calendar, ``/me/events``), ``linked_calendar_name``, ``linked_calendar_allows_teams``
(absent: never checked, taken as allowed) and ``linked_calendar_checked_at``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CALENDAR_SELECT = "id,name,isDefaultCalendar,canEdit,allowedOnlineMeetingProviders"
TEAMS_PROVIDER = "teamsForBusiness"
ROW_FIELDS = ("linked_calendar_id", "linked_calendar_name", "linked_calendar_allows_teams",
              "linked_calendar_checked_at")
MAX_CALENDAR_ID = 512


@dataclass(frozen=True)
class OutlookCalendar:
    """One calendar of the connected account, as ``GET /me/calendars`` lists it."""

    id: str
    name: str
    is_default: bool
    can_edit: bool
    allows_teams: bool

    @classmethod
    def from_graph(cls, item: Any) -> OutlookCalendar | None:
        """A Graph ``calendar`` object (``None`` without an id)."""
        if not isinstance(item, Mapping) or not item.get("id"):
            return None
        providers = item.get("allowedOnlineMeetingProviders")
        return cls(id=str(item["id"]), name=str(item.get("name") or ""),
                   is_default=item.get("isDefaultCalendar") is True, can_edit=item.get("canEdit") is not False,
                   allows_teams=isinstance(providers, list) and TEAMS_PROVIDER in providers)

    def view(self) -> dict[str, Any]:
        """The management API's view."""
        return {"id": self.id, "name": self.name, "is_default": self.is_default, "can_edit": self.can_edit,
                "allows_teams": self.allows_teams}


def parse_calendars(items: Iterable[Any]) -> list[OutlookCalendar]:
    """Graph's ``value`` list as calendars (items without an id are left out)."""
    return [c for c in (OutlookCalendar.from_graph(i) for i in items) if c is not None]


def linked_of(calendars: Iterable[OutlookCalendar], linked_id: str) -> OutlookCalendar | None:
    """The calendar events go to: ``linked_id``, or the default calendar when none was chosen."""
    items = list(calendars)
    if linked_id:
        return next((c for c in items if c.id == linked_id), None)
    return next((c for c in items if c.is_default), None)


def check_fields(calendar: OutlookCalendar, now: str) -> dict[str, Any]:
    """What a check of the linked calendar records on the connection row (its id is not changed)."""
    return {"linked_calendar_name": calendar.name[:255], "linked_calendar_allows_teams": calendar.allows_teams,
            "linked_calendar_checked_at": now}


def link_fields(calendar: OutlookCalendar, now: str) -> dict[str, Any]:
    """What choosing ``calendar`` records on the connection row."""
    return {"linked_calendar_id": calendar.id, **check_fields(calendar, now)}


def forget(entity: dict[str, Any]) -> None:
    """Drop what was known of the linked calendar (another account connected: its calendars are others)."""
    for key in ROW_FIELDS:
        entity.pop(key, None)


def allows_teams(row: Mapping[str, Any] | None) -> bool:
    """False only when a check found that the linked calendar does not allow Teams meetings."""
    return (row or {}).get("linked_calendar_allows_teams") is not False


def view_of(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The linked calendar as the connection view shows it (``None`` before anything is known)."""
    r = row or {}
    if not any(r.get(k) not in (None, "") for k in ROW_FIELDS):
        return None
    checked = r.get("linked_calendar_allows_teams")
    return {"id": str(r.get("linked_calendar_id") or "") or None, "name": r.get("linked_calendar_name") or None,
            "allows_teams": checked if isinstance(checked, bool) else None,
            "checked_at": r.get("linked_calendar_checked_at") or None}


def teams_problem(row: Mapping[str, Any] | None) -> str | None:
    """Rule 26: what the host and admins read when the linked calendar does not allow Teams meetings."""
    if allows_teams(row):
        return None
    name = str((row or {}).get("linked_calendar_name") or "the linked calendar")
    return (f"the linked Outlook calendar '{name}' does not allow Teams meetings (its allowedOnlineMeetingProviders "
            "lacks teamsForBusiness): bookings get a separate Teams meeting and the invitee's invitation is the "
            "confirmation's .ics, not Outlook's; link a calendar that allows Teams, or ask your Microsoft 365 "
            "administrator to allow Teams meetings on it")
