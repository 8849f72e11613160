"""A Google member's free/busy (rule 28): ``freeBusy.query`` of the member's primary calendar with the
member's own ``google_calendar`` token. Fail closed: any failure makes the member unreadable (busy the whole
time) with a reason admins see in the calendar's diagnostics, as for Outlook (rule 12)."""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from shared.domain import google
from shared.domain.availability import Interval, MemberAvailability
from shared.domain.model import ConnectionKind, ConnectionStatus
from shared.errors import (
    BookbridgeError,
    GoogleRejected,
    GoogleUnauthorized,
    NotConnected,
    ReauthRequired,
    Throttled,
    TransientError,
)
from shared.ports import EntityStore, GoogleCalendarPort
from shared.repositories.connection_reads import get_connection_row, status_of

log = logging.getLogger("bookbridge.availability")
KIND = ConnectionKind.GOOGLE_CALENDAR.value

Token = Callable[[bool, Mapping[str, Any] | None], str]
"""``(force_refresh, connection row) -> token`` of the member's ``google_calendar`` slot."""


def reason_for(exc: Exception) -> str:
    """What admins read when a Google member's free/busy could not be read."""
    if isinstance(exc, ReauthRequired):
        return "the Google calendar connection must be renewed (needs_reauth): the member has to sign in again"
    if isinstance(exc, NotConnected):
        return "the member has no connected Google calendar"
    if isinstance(exc, Throttled):
        return "Google Calendar is throttling free/busy requests (try again shortly)"
    if isinstance(exc, GoogleUnauthorized):
        return "Google refused the member's access token"
    if isinstance(exc, GoogleRejected):
        return f"Google refused the free/busy request: {exc.message}"[:300]
    if isinstance(exc, TransientError):
        return f"Google free/busy did not answer ({exc.code})"
    if isinstance(exc, BookbridgeError):
        return f"free/busy could not be read ({exc.code})"
    return f"free/busy could not be read (internal error {type(exc).__name__})"


def google_free_busy(store: EntityStore, calendar: GoogleCalendarPort | None, token: Token, ws: str, user: str,
                     window: Interval, ignore: Interval | None = None) -> MemberAvailability:
    """One Google member's busy time over ``window``; never raises. ``ignore``: a busy period with exactly
    these times is left out (the booking being rescheduled, which its own Google event shows as busy)."""
    try:
        row = get_connection_row(store, ws, user, KIND)
        status = status_of(row)
        if status is None:
            return MemberAvailability.unreadable(user, "the member has not connected a Google calendar")
        if status is not ConnectionStatus.CONNECTED:
            return MemberAvailability.unreadable(
                user, f"the member's Google calendar connection is {status.value}: they must connect again")
        if calendar is None:
            return MemberAvailability.unreadable(user, "Google Calendar is not configured on this server")
        body = google.free_busy_request(window.start, window.end)
        try:
            answer = calendar.free_busy(token(False, row), body)
        except GoogleUnauthorized:
            answer = calendar.free_busy(token(True, None), body)  # a refused token is asked for again once
        blocks = google.busy_blocks(answer)
        if isinstance(blocks, str):
            return MemberAvailability.unreadable(user, blocks)
        kept = [b for b in blocks if ignore is None or (b.start, b.end) != (ignore.start, ignore.end)]
        return MemberAvailability.from_blocks(user, kept)
    except Exception as exc:  # noqa: BLE001 - fail closed whatever went wrong (rules 12, 28)
        level = logging.INFO if isinstance(exc, BookbridgeError) else logging.WARNING
        log.log(level, "google free/busy of %s/%s unreadable: %s", ws, user, type(exc).__name__)
        return MemberAvailability.unreadable(user, reason_for(exc))
