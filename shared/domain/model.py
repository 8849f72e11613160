"""The vocabulary of bookbridge: pure value types, no SDK imports."""
from __future__ import annotations

from enum import Enum


class CalendarType(str, Enum):
    """Kinds of bookable calendar."""

    PERSONAL = "personal"
    ROUND_ROBIN = "round_robin"
    COLLECTIVE = "collective"
    SERVICE = "service"
    CLASS = "class"
    EVENT = "event"


class MeetingLocation(str, Enum):
    """Where a member meets invitees."""

    TEAMS = "teams"
    CUSTOM = "custom"
    GOOGLE_MEET = "google_meet"
    NONE = "none"


class CalendarProvider(str, Enum):
    """Whose free/busy a member's availability is read from."""

    NONE = "none"
    MICROSOFT = "microsoft"
    GOOGLE = "google"


class ConnectionKind(str, Enum):
    """One connection slot per kind per user per workspace."""

    TEAMS = "teams"
    MICROSOFT_CALENDAR = "microsoft_calendar"
    GOOGLE_CALENDAR = "google_calendar"

    @property
    def is_microsoft(self) -> bool:
        """True for the kinds signed in with Microsoft (MSAL); ``google_calendar`` is Google's."""
        return self is not ConnectionKind.GOOGLE_CALENDAR


class ConnectionStatus(str, Enum):
    """State of a connection slot."""

    CONNECTED = "connected"
    NEEDS_REAUTH = "needs_reauth"
    DISCONNECTED = "disconnected"


class BookingStatus(str, Enum):
    """State of a booking."""

    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class LinkState(str, Enum):
    """State of a booking's meeting link."""

    NOT_APPLICABLE = "not_applicable"
    PENDING = "pending"
    CREATED = "created"
    AWAITING_CONNECTION = "awaiting_connection"
    RETRYING = "retrying"
    FAILED = "failed"
    STATIC = "static"

    @property
    def is_final_for_now(self) -> bool:
        """True when the confirmation may go out (everything but ``pending``)."""
        return self is not LinkState.PENDING


#: Scopes asked for each connection kind (MSAL adds openid/profile/offline_access itself; Google's kind asks
#: ``openid email`` besides: ``shared.domain.google.SIGN_IN_SCOPES``): free/busy and events of calendars the
#: account owns, nothing more (calendar.freebusy, calendar.events.owned: "Choose Google Calendar API scopes").
SCOPES: dict[ConnectionKind, tuple[str, ...]] = {
    ConnectionKind.TEAMS: ("OnlineMeetings.ReadWrite", "User.Read"),
    ConnectionKind.MICROSOFT_CALENDAR: ("Calendars.ReadWrite", "User.Read"),
    ConnectionKind.GOOGLE_CALENDAR: ("https://www.googleapis.com/auth/calendar.freebusy",
                                     "https://www.googleapis.com/auth/calendar.events.owned"),
}

#: Tenant id of personal Microsoft accounts (MSA): never allowed to connect.
PERSONAL_ACCOUNT_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"

#: Calendar types on which a dynamic Teams link may be generated (rule 2).
DYNAMIC_LINK_CALENDAR_TYPES = frozenset(
    {CalendarType.PERSONAL, CalendarType.ROUND_ROBIN, CalendarType.COLLECTIVE, CalendarType.SERVICE}
)
