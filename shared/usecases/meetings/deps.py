"""What the meeting worker depends on (ports, limits) and :class:`Job`, one message's worth of context."""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from shared.domain.model import ConnectionKind
from shared.errors import TransientError
from shared.ports import Clock, Entity, EntityStore, MessageQueue
from shared.repositories import bookings as bookings_repo
from shared.usecases import booking_events
from shared.usecases.meetings.messages import MeetingMessage

log = logging.getLogger("bookbridge.meetings")

MEETINGS_QUEUE = booking_events.MEETINGS_QUEUE
MEETINGS_POISON_QUEUE = "meetings-poison"
COMMUNICATIONS_QUEUE = booking_events.COMMUNICATIONS_QUEUE
CALENDARS_TABLE = "calendars"

#: Throttled attempts (429/503/504) before a booking is given up as ``failed``.
MAX_ATTEMPTS = 8
#: ``extensions.queues.maxDequeueCount`` of host.json: failed deliveries before ``meetings-poison``.
HOST_MAX_DEQUEUE_COUNT = 5
#: Longest visibility delay of a re-queued copy (seconds).
MAX_DELAY_SECONDS = 300
#: ETag races tolerated on one booking write before giving up (raised as a transient error).
MAX_WRITE_RACES = 5

TEAMS = ConnectionKind.TEAMS.value
CALENDAR = ConnectionKind.MICROSOFT_CALENDAR.value


class AccessTokenPort(Protocol):
    """An access token of a host's connection; ``force_refresh`` skips the cache (after a Graph 401).

    Raises ``ReauthRequired`` (refresh failed: the connection is now ``needs_reauth``) or
    ``NotConnected`` (no ``connected`` connection of that kind).
    """

    def __call__(self, workspace: str, user: str, kind: str, *, force_refresh: bool = False) -> str: ...


class ConnectionPort(Protocol):
    """A connection row (``connections`` table) or ``None``."""

    def __call__(self, workspace: str, user: str, kind: str) -> dict[str, Any] | None: ...


class TeamsUnavailablePort(Protocol):
    """Record on the host's ``teams`` connection that the account cannot create Teams meetings."""

    def __call__(self, workspace: str, user: str, reason: str) -> None: ...


class MeetingsGraph(Protocol):
    """The Graph calls of the worker (``shared.adapters.graph_events.GraphEvents``)."""

    def create_event(self, token: str, body: dict[str, Any], *, calendar_id: str = "") -> dict[str, Any]: ...
    def get_event_online_meeting(self, token: str, event_id: str) -> dict[str, Any]: ...
    def update_event(self, token: str, event_id: str, patch: dict[str, Any]) -> dict[str, Any]: ...
    def cancel_event(self, token: str, event_id: str, comment: str) -> bool: ...
    def delete_event(self, token: str, event_id: str) -> bool: ...
    def create_or_get_online_meeting(self, token: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def update_online_meeting(self, token: str, meeting_id: str, patch: dict[str, Any]) -> dict[str, Any]: ...

    def find_online_meeting_by_join_url(self, token: str, join_url: str) -> dict[str, Any] | None: ...
    def delete_online_meeting(self, token: str, meeting_id: str) -> bool: ...


class BookingRepository(Protocol):
    """Point read and ETag-conditional replace of a booking entity (table ``schedule``)."""

    def load(self, workspace: str, host: str, booking_id: str) -> Entity | None: ...
    def save(self, booking: Entity) -> str:
        """Replace the booking if its ``_etag`` still matches; returns the new ETag.

        Raises ``ConcurrencyConflict`` when it changed since it was read.
        """
        ...


class TableBookings:
    """:class:`BookingRepository` over an ``EntityStore``, with the keys of ``shared.repositories.bookings``.

    The worker keeps the raw entity (a dict) so every field it does not know (and those it adds) is
    written back unchanged by its ETag-conditional replace.
    """

    def __init__(self, store: EntityStore) -> None:
        self._store = store

    def load(self, workspace: str, host: str, booking_id: str) -> Entity | None:
        return self._store.get(bookings_repo.SCHEDULE, bookings_repo.schedule_pk(workspace, host),
                               bookings_repo.booking_rk(booking_id))

    def save(self, booking: Entity) -> str:
        return self._store.update(bookings_repo.SCHEDULE, booking, booking.get("_etag"), merge=False)


def default_backoff(attempt: int, *, cap: float = MAX_DELAY_SECONDS) -> float:
    """Exponential back-off with jitter for ``attempt`` (1-based): 1-2 s, 2-4 s, 4-8 s, ..."""
    base = min(cap, 2.0 ** max(0, attempt - 1) * 2.0)
    return base / 2 + random.uniform(0, base / 2)


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

    def load(self) -> Entity | None:
        """The booking as stored now (``None`` when gone)."""
        assert self.deps.bookings is not None
        return self.deps.bookings.load(self.ws, self.host, self.booking_id)

    def call(self, kind: str, fn: Callable[[str], Any]) -> Any:
        """Run ``fn(token)``; after a 401, refresh the token once (forced) and run it again."""
        token = self.deps.access_token(self.ws, self.host, kind)
        try:
            return fn(token)
        except TransientError as exc:
            # ``GraphUnauthorized`` (an adapter class) is recognised by its code: use cases import no adapters.
            if getattr(exc, "code", "") != "graph_unauthorized":
                raise
            log.info("meetings: graph 401, refreshing the %s token once ws=%s booking=%s", kind, self.ws,
                     self.booking_id)
            token = self.deps.access_token(self.ws, self.host, kind, force_refresh=True)
            return fn(token)

    def calendar_name(self, booking: Mapping[str, Any]) -> str:
        """The calendar's name for the subject (stored on the booking; else one point read, cached)."""
        if self._calendar_name is None:
            name = str(booking.get("calendar_name") or "")
            calendar = str(booking.get("calendar") or "")
            if not name and calendar:
                row = self.deps.store.get(CALENDARS_TABLE, self.ws, calendar)
                name = str((row or {}).get("name") or "")
            self._calendar_name = name or str(booking.get("calendar_slug") or "")
        return self._calendar_name
