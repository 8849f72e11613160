"""Why a booking has no link, or why Graph is behind: texts a host can act on.

Stored in ``link_reason`` / ``graph_sync_error`` and shown to people.
"""
from __future__ import annotations

from shared.errors import GraphRejected

REASON_NOT_CONNECTED = ("Microsoft Teams is not connected for this host. Connect Teams and the link will be "
                        "added to upcoming bookings automatically.")
REASON_REAUTH = ("The Microsoft Teams connection must be renewed (sign in again). The link will be added "
                 "automatically once it is reconnected.")
REASON_TEAMS_UNAVAILABLE = ("The Microsoft account connected for Teams cannot create Teams meetings: it has no "
                            "Teams licence, or its organisation does not allow Teams meetings. Ask your "
                            "Microsoft 365 administrator, or connect another work account.")
REASON_NO_JOIN_URL_EVENT = ("Outlook created the calendar event but returned no Teams join link: check that "
                            "Microsoft Teams is allowed as the online meeting provider of the linked Outlook "
                            "calendar and that the account has a Teams licence.")
REASON_NO_JOIN_URL_MEETING = "Microsoft Teams created the meeting but returned no join link."
REASON_CALENDAR_RECONNECT = ("The linked Microsoft calendar must be reconnected: the booking was not written to "
                             "it. Reconnecting the calendar writes it.")
REASON_PAST = "The meeting time passed before a link could be created."


def reason_throttled(attempts: int) -> str:
    """Graph throttled every attempt to create the meeting (transient: tried again later by itself)."""
    return (f"Microsoft Graph kept asking to slow down (throttling) for {attempts} attempts; the meeting is "
            f"tried again automatically.")


def reason_google_throttled(attempts: int) -> str:
    """Google Calendar was busy or down for every attempt (transient: tried again later by itself)."""
    return (f"Google Calendar kept asking to slow down or did not answer for {attempts} attempts; the Google "
            f"event is tried again automatically.")


def reason_poison(op: str, attempts: int, *, event_only: bool = False) -> str:
    """A message of ``op`` failed ``attempts`` times (``event_only``: the link exists, the event does not)."""
    if op in ("create", "reconcile") and not event_only:
        return (f"Microsoft 365 or storage did not answer ({attempts} attempts); the meeting is tried again "
                f"automatically.")
    what = {"create": "written to the linked calendar", "reschedule": "moved to the new time",
            "cancel": "cancelled"}.get(op, "updated")
    return f"The calendar event or Teams meeting could not be {what} after {attempts} attempts."


def reason_rejected(exc: GraphRejected) -> str:
    """Graph refused to create the meeting."""
    code = exc.graph_code or f"HTTP {exc.status}"
    return f"Microsoft Graph refused to create the meeting ({code}). Contact support with the booking id."
