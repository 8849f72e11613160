"""Rule 19, purely: what a host's change to a booking's Outlook event means for the booking.

A change notification is only a hint: the worker re-reads the event and asks :func:`decide` with the booking
as stored now. Deleted (gone, or ``isCancelled``) or declined by the host: the booking is cancelled and the
invitee told, or, with the calendar's ``external_delete`` = ``notify_host``, the host is told and the booking
kept. Moved (other start or end than the booking's): the booking moves there, same link. Anything else (a new
subject, a body, a reminder) is ignored. Our own writes never loop back: a booking whose event is behind it
(a reschedule or cancel of ours not yet written to Graph) is not judged from the event, and once our write
landed the event agrees with the booking, which is no change.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.domain.calendar_config import EXTERNAL_DELETE_CHOICES
from shared.domain.model import BookingStatus
from shared.domain.reconcile import times_behind

DEFAULT_EXTERNAL_DELETE = EXTERNAL_DELETE_CHOICES[0]

IGNORE, CANCEL, NOTIFY_HOST, MOVE = "ignore", "cancel", "notify_host", "move"


@dataclass(frozen=True)
class InboundDecision:
    """What to do with the booking (``action``), why, and the new times of a move."""

    action: str
    reason: str
    start: datetime | None = None
    end: datetime | None = None


def parse_graph_time(value: Any) -> datetime | None:
    """A ``dateTimeTimeZone`` read with ``Prefer: outlook.timezone="UTC"`` (or an offset string) -> aware UTC."""
    if not isinstance(value, Mapping):
        return None
    raw = str(value.get("dateTime") or "")
    if not raw:
        return None
    zone = str(value.get("timeZone") or "UTC")
    if zone not in ("UTC", "Etc/UTC", "tzone://Microsoft/Utc"):
        return None  # asked in UTC: anything else is not ours to guess
    text = raw.replace("Z", "")
    if "." in text:  # Graph writes seven fractional digits; Python reads six
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _as_utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return None


def event_removed(event: Mapping[str, Any] | None) -> str | None:
    """``deleted``/``declined`` when the event is gone for the host, else ``None``."""
    if event is None or event.get("@removed") is not None or event.get("isCancelled") is True:
        return "deleted"
    status = event.get("responseStatus")
    if isinstance(status, Mapping) and status.get("response") == "declined":
        return "declined"
    return None


def watched(booking: Mapping[str, Any], now: datetime) -> str | None:
    """Why the booking's event is not judged now (``None``: it is): cancelled, started, no event, or our own
    write to the event still pending."""
    if str(booking.get("status") or "") != BookingStatus.CONFIRMED.value:
        return "booking not confirmed"
    start = _as_utc(booking.get("start_utc"))
    if start is None or start <= now:
        return "booking started"
    if not booking.get("graph_event_id") or booking.get("graph_cancelled"):
        return "booking has no live event"
    if times_behind(booking):
        return "our own write to the event is pending"
    return None


def decide(booking: Mapping[str, Any], event: Mapping[str, Any] | None, now: datetime,
           external_delete: str = DEFAULT_EXTERNAL_DELETE) -> InboundDecision:
    """What the host's change (``event`` as re-read now; ``None`` when Graph answered 404) means."""
    skip = watched(booking, now)
    if skip is not None:
        return InboundDecision(IGNORE, skip)
    removed = event_removed(event)
    if removed is not None:
        action = NOTIFY_HOST if external_delete == "notify_host" else CANCEL
        return InboundDecision(action, f"event {removed} by the host")
    assert event is not None
    start, end = parse_graph_time(event.get("start")), parse_graph_time(event.get("end"))
    if start is None or end is None or end <= start:
        return InboundDecision(IGNORE, "event times unreadable")
    if (start, end) == (_as_utc(booking.get("start_utc")), _as_utc(booking.get("end_utc"))):
        return InboundDecision(IGNORE, "no change to the booking's times")
    if start <= now:
        return InboundDecision(IGNORE, "event moved into the past")
    return InboundDecision(MOVE, "event moved by the host", start, end)


__all__ = ["CANCEL", "DEFAULT_EXTERNAL_DELETE", "EXTERNAL_DELETE_CHOICES", "IGNORE", "InboundDecision", "MOVE",
           "NOTIFY_HOST", "decide", "event_removed", "parse_graph_time", "watched"]
