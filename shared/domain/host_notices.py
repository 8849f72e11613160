"""What a host is told, and which connection the fix is (rule 21): pure rules, no I/O.

A host notice says what happened in the host's own terms (never connected, disconnected, sign-in expired,
consent missing, no Teams licence, the calendar connection) and carries a fresh connect link for the kind
that fixes it. The link in an email is a *notice link*: good for days and never used up, it mints a new
one-time connect link each time it is opened, so it still works when the host reads the email late.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any

from shared.domain.model import ConnectionKind, ConnectionStatus, LinkState

NOTICE_LINK_PURPOSE = "connect-notice"
#: How long the link in a host notice keeps minting connect links (emails are read late).
NOTICE_LINK_TTL = timedelta(days=7)
NOTICE_PATH = "/api/reconnect/"


class NoticeCause(str, Enum):
    """Why the host must act."""

    NOT_CONNECTED = "not_connected"  # never connected this kind
    DISCONNECTED = "disconnected"  # connected once, then disconnected
    REAUTH = "reauth"  # Microsoft refused to renew the sign-in
    CONSENT = "consent"  # the organisation's administrator must approve bookbridge first
    NO_TEAMS = "no_teams"  # the connected account cannot create Teams meetings
    CALENDAR = "calendar"  # the linked Microsoft calendar connection needs a new sign-in
    OTHER = "other"  # the link failed for a reason shown on the notice
    GOOGLE = "google"  # a Google Meet link waits for the host's Google Calendar (rule 28)


@dataclass(frozen=True)
class Notice:
    """A notice's cause and the connection kind whose connect link fixes it."""

    cause: NoticeCause
    kind: ConnectionKind


def _status(conn: Mapping[str, Any] | None) -> str:
    return str((conn or {}).get("status") or "")


def connection_cause(conn: Mapping[str, Any] | None) -> NoticeCause | None:
    """What is wrong with one connection slot, ``None`` when it is connected and able."""
    status = _status(conn)
    if conn is None or not status:
        return NoticeCause.NOT_CONNECTED
    if status == ConnectionStatus.DISCONNECTED.value:
        return NoticeCause.DISCONNECTED
    if status == ConnectionStatus.NEEDS_REAUTH.value:
        return NoticeCause.CONSENT if conn.get("consent_required") else NoticeCause.REAUTH
    if conn.get("teams_unavailable"):
        return NoticeCause.NO_TEAMS
    return None


def booking_notice(link_state: str, teams: Mapping[str, Any] | None, calendar: Mapping[str, Any] | None,
                   *, calendar_sync_error: bool = False) -> Notice:
    """The notice about one booking's missing link (or its missed calendar write).

    ``calendar_sync_error``: the booking's event could not be written to the linked Microsoft calendar.
    """
    teams_cause = connection_cause(teams)
    if calendar_sync_error and teams_cause is None and connection_cause(calendar) not in (None, NoticeCause.NO_TEAMS):
        return Notice(NoticeCause.CALENDAR, ConnectionKind.MICROSOFT_CALENDAR)
    if teams_cause is not None:
        return Notice(teams_cause, ConnectionKind.TEAMS)
    if link_state == LinkState.AWAITING_CONNECTION.value:
        return Notice(NoticeCause.REAUTH, ConnectionKind.TEAMS)  # the slot recovered since: sign in again
    return Notice(NoticeCause.OTHER, ConnectionKind.TEAMS)


def notice_link_payload(workspace: str, user: str, kind: ConnectionKind, issued: int) -> dict[str, Any]:
    """The signed payload of a notice link issued at unix second ``issued``."""
    expires = issued + int(NOTICE_LINK_TTL.total_seconds())
    return {"w": workspace, "u": user, "k": kind.value, "i": issued, "x": expires}


def fixed_since(conn: Mapping[str, Any] | None, issued_iso: str) -> bool:
    """True when the slot was connected (and is able) after the notice was issued: the link has done its job."""
    return connection_cause(conn) is None and str((conn or {}).get("connected_at") or "") >= issued_iso
