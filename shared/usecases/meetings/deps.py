"""What the meeting worker depends on (ports, limits) and :class:`Job`, one message's worth of context."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from shared.domain.backoff import default_backoff
from shared.domain.model import ConnectionKind
from shared.errors import GraphUnauthorized
from shared.ports import (
    AccessTokenPort,
    BookingRepository,
    Clock,
    ConnectionPort,
    EntityStore,
    GoogleCalendarPort,
    MeetingsGraph,
    MessageQueue,
    TeamsUnavailablePort,
)
from shared.repositories.bookings import Booking, TableBookings
from shared.usecases import booking_events
from shared.usecases.meetings.messages import MeetingMessage

log = logging.getLogger("bookbridge.meetings")

MEETINGS_QUEUE = booking_events.MEETINGS_QUEUE
COMMUNICATIONS_QUEUE = booking_events.COMMUNICATIONS_QUEUE
CALENDARS_TABLE = "calendars"

#: Throttled attempts (429/503/504) before a booking is given up as ``failed``.
MAX_ATTEMPTS = 8
#: ``extensions.queues.maxDequeueCount`` of host.json: failed deliveries before ``meetings-poison``.
HOST_MAX_DEQUEUE_COUNT = 5
#: Longest visibility delay of a re-queued copy (seconds).
MAX_DELAY_SECONDS = 300

TEAMS = ConnectionKind.TEAMS.value
CALENDAR = ConnectionKind.MICROSOFT_CALENDAR.value


class MeetingPorts(TypedDict, total=False):
    """The Microsoft-facing ports of :class:`MeetingDeps` a test may give the container instead."""

    graph: MeetingsGraph
    access_token: AccessTokenPort
    connection: ConnectionPort
    mark_teams_unavailable: TeamsUnavailablePort
    google_calendar: GoogleCalendarPort


@dataclass
class MeetingDeps:
    """Everything the worker needs, passed in (``functions/meetings_worker.py`` builds the real ones)."""

    store: EntityStore
    queue: MessageQueue
    clock: Clock
    graph: MeetingsGraph
    access_token: AccessTokenPort
    connection: ConnectionPort
    mark_teams_unavailable: TeamsUnavailablePort
    bookings: BookingRepository | None = None
    #: Calendar v3 for the events of Google members and Meet links (rule 28); ``None``: not configured.
    google_calendar: GoogleCalendarPort | None = None
    max_attempts: int = MAX_ATTEMPTS
    backoff: Callable[[int], float] = default_backoff

    def __post_init__(self) -> None:
        if self.bookings is None:
            self.bookings = TableBookings(self.store)


@dataclass
class Job:
    """One message's worth of work: the deps, the message and the booking's keys."""

    deps: MeetingDeps
    msg: MeetingMessage
    _calendar_name: str | None = field(default=None, init=False)

    @property
    def ws(self) -> str:
        return self.msg.workspace

    @property
    def host(self) -> str:
        return self.msg.host

    @property
    def booking_id(self) -> str:
        return self.msg.booking_id

    def load(self) -> Booking | None:
        """The booking as stored now (``None`` when gone)."""
        assert self.deps.bookings is not None
        return self.deps.bookings.load(self.ws, self.host, self.booking_id)

    def call(self, kind: str, fn: Callable[[str], Any]) -> Any:
        """Run ``fn(token)`` with the host's ``kind`` token; after a 401, refresh it once (forced) and run again."""
        return self.call_as(self.host, kind, fn)

    def call_as(self, user: str, kind: str, fn: Callable[[str], Any]) -> Any:
        """:meth:`call` with ``user``'s connection (a collective booking's co-host, rule 20)."""
        token = self.deps.access_token(self.ws, user, kind)
        try:
            return fn(token)
        except GraphUnauthorized:
            log.info("meetings: graph 401, refreshing the %s token once ws=%s booking=%s", kind, self.ws,
                     self.booking_id)
            token = self.deps.access_token(self.ws, user, kind, force_refresh=True)
            return fn(token)

    def calendar_name(self, booking: Booking) -> str:
        """The calendar's name for the subject (stored on the booking; else one point read, cached)."""
        if self._calendar_name is None:
            name = booking.calendar_name or ""
            if not name and booking.calendar:
                row = self.deps.store.get(CALENDARS_TABLE, self.ws, booking.calendar)
                name = str((row or {}).get("name") or "")
            self._calendar_name = name or booking.calendar_slug or ""
        return self._calendar_name
