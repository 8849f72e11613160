"""Rules 1-3 and 7: which link state a new booking starts in. Pure functions."""
from __future__ import annotations

from shared.domain.model import (
    DYNAMIC_LINK_CALENDAR_TYPES,
    CalendarType,
    ConnectionStatus,
    LinkState,
    MeetingLocation,
)


def location_refusal(calendar_type: CalendarType, location: MeetingLocation) -> str | None:
    """Why ``location`` may not be chosen on ``calendar_type`` (rule 2), or ``None`` if it may."""
    if location is MeetingLocation.GOOGLE_MEET and calendar_type not in DYNAMIC_LINK_CALENDAR_TYPES:
        return f"{calendar_type.value} calendars do not support dynamic Google Meet links"
    if location is MeetingLocation.TEAMS and calendar_type not in DYNAMIC_LINK_CALENDAR_TYPES:
        if calendar_type is CalendarType.EVENT:
            return ("event calendars do not support dynamic Teams links; use a custom static link "
                    "(the same URL for every booking)")
        return f"{calendar_type.value} calendars do not support dynamic Teams links"
    return None


def initial_link_state(
    calendar_type: CalendarType,
    location: MeetingLocation,
    teams_status: ConnectionStatus | None,
) -> LinkState:
    """The link state a confirmed booking is stored with (rules 1, 3, 7; 28: a Google Meet link waits for the
    host's ``google_calendar`` connection, passed as ``teams_status``: the link's provider's connection)."""
    if location is MeetingLocation.CUSTOM:
        return LinkState.STATIC
    dynamic = location in (MeetingLocation.TEAMS, MeetingLocation.GOOGLE_MEET)
    if not dynamic or calendar_type not in DYNAMIC_LINK_CALENDAR_TYPES:
        return LinkState.NOT_APPLICABLE
    if teams_status is ConnectionStatus.CONNECTED:
        return LinkState.PENDING
    return LinkState.AWAITING_CONNECTION


def stored_link_state(calendar_type: CalendarType, location: MeetingLocation) -> LinkState:
    """The link state intake stores, from the calendar alone: ``pending`` for a dynamic Teams link (the
    reconciler then reads the host's connection: rules 1 and 3 decide there between making the link and
    ``awaiting_connection``), ``static`` for a custom link, else ``not_applicable``."""
    return initial_link_state(calendar_type, location, ConnectionStatus.CONNECTED)
