"""A booking's event in a Google member's calendar (rule 28), pure: whether one is wanted, its id, its bodies,
and the Google Meet link of an answer. No I/O, no SDK imports.

The event is wanted while the booking is confirmed and upcoming, for a host whose ``calendar_provider`` is
``google`` (recorded on the booking at intake as ``calendar_provider``) or whose location is ``google_meet``.
It has the invitee as attendee (Google sends the invitation: ``sendUpdates=all``) and carries the booking's
link (a Teams link, a custom URL, or the Meet link Google makes for it). Its id is derived from the booking
(base32hex, "Events: insert"), so a retried insert can never make a second event (Google answers 409
``duplicate``). A Meet conference is asked for with ``conferenceData.createRequest`` (``conferenceDataVersion=1``)
and the booking id as ``requestId`` ("Create events"): unique per booking, kept when the event moves.

Booking fields (ride in the booking's ``extra``): ``calendar_provider``, ``google_event_id``,
``google_synced_revision``, ``google_event_link`` (the link the event carries), ``google_cancelled``,
``google_sync_error``.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.domain.input_limits import one_line
from shared.domain.meeting_plan import IDEMPOTENCY_NAMESPACE, ConnectionView, meeting_generation, meeting_subject
from shared.domain.model import BookingStatus, CalendarProvider, MeetingLocation
from shared.domain.stored_values import stored_instant, stored_int

MEET = "hangoutsMeet"
FIELDS = ("google_event_id", "google_synced_revision", "google_event_link", "google_cancelled", "google_sync_error")


def wanted(booking: Mapping[str, Any]) -> bool:
    """True when the booking's host keeps it in a Google calendar (provider google, or a Meet link)."""
    return (str(booking.get("calendar_provider") or "") == CalendarProvider.GOOGLE.value
            or is_meet(booking))


def outlook_calendar(booking: Mapping[str, Any], calendar: ConnectionView | None) -> ConnectionView | None:
    """The host's Microsoft calendar connection as the booking may use it: none for a host whose calendar is
    Google (``calendar_provider: google``), whose event and invitation come from Google alone (never a second
    event, nor a second invitation from Outlook)."""
    return None if str(booking.get("calendar_provider") or "") == CalendarProvider.GOOGLE.value else calendar


def is_meet(booking: Mapping[str, Any]) -> bool:
    """True for a booking whose link is a Google Meet link."""
    return str(booking.get("location") or "") == MeetingLocation.GOOGLE_MEET.value


def event_id(workspace: str, booking_id: str, generation: int = 0) -> str:
    """The Google event id of a booking: ``bb`` + 32 hex digits (all inside base32hex), the same every attempt."""
    suffix = f"|{generation}" if generation else ""
    return "bb" + uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"google-event|{workspace}|{booking_id}{suffix}").hex


def cohost_event_id(workspace: str, booking_id: str, user: str) -> str:
    """The Google event id of a collective booking's co-host ``user`` (rule 20): ``bb`` + 32 hex digits, the same
    every attempt and never the organizer's (another account's calendar, but one id per booking and user)."""
    return "bb" + uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"google-cohost-event|{workspace}|{booking_id}|{user}").hex


def needs_work(booking: Mapping[str, Any], now: datetime) -> bool:
    """True when the Google side lags the booking: a live event of a cancelled booking, or (upcoming) no event
    yet, a link the event does not carry, or times older than the booking's revision."""
    if not wanted(booking):
        return False
    live = bool(booking.get("google_event_id")) and not booking.get("google_cancelled")
    if str(booking.get("status") or "") == BookingStatus.CANCELLED.value:
        return live
    start = stored_instant(booking.get("start_utc"))
    if start is None or start <= now:
        return False
    if not booking.get("google_event_id"):
        return True
    link = link_of(booking)
    return (bool(link) and link != str(booking.get("google_event_link") or "")) or stored_int(
        booking.get("google_synced_revision"), -1) < stored_int(booking.get("revision"), 0)


def link_of(booking: Mapping[str, Any]) -> str:
    """The link the event should carry ('' while there is none)."""
    return str(booking.get("meeting_url") or booking.get("custom_url") or "")


def _time(instant: Any, zone: str) -> dict[str, str]:
    moment = stored_instant(instant)
    assert moment is not None
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "timeZone": zone or "UTC"}


def description(booking: Mapping[str, Any], link: str) -> str:
    lines = [f"Join the meeting: {link}", ""] if link else []
    notes = str(booking.get("notes") or "").strip()
    if notes:
        lines += ["Notes from the invitee:", notes, ""]
    lines.append("Booked with bookbridge. The invitee can reschedule or cancel with the \"Manage your booking\" "
                 "link in their confirmation email.")
    return "\n".join(lines).strip()


def event_body(booking: Mapping[str, Any], calendar_name: str = "") -> dict[str, Any]:
    """``events.insert``: the invitee as attendee, the link (Teams, custom) as location and in the description,
    or a Meet conference request keyed by the booking id."""
    zone = str(booking.get("calendar_timezone") or "UTC")
    attendee: dict[str, Any] = {"email": str(booking.get("invitee_email") or "")}
    name = one_line(str(booking.get("invitee_name") or ""))
    if name:
        attendee["displayName"] = name
    link = link_of(booking)
    body: dict[str, Any] = {
        "id": event_id(str(booking["workspace"]), str(booking["id"]), meeting_generation(booking)),
        "summary": meeting_subject(booking, calendar_name),
        "description": description(booking, link),
        "start": _time(booking.get("start_utc"), zone),
        "end": _time(booking.get("end_utc"), zone),
        "attendees": [attendee],
        "guestsCanModify": False,
        "transparency": "opaque",
    }
    if link:
        body["location"] = link
    if is_meet(booking) and not link:
        body["conferenceData"] = {"createRequest": {"requestId": str(booking["id"]),
                                                    "conferenceSolutionKey": {"type": MEET}}}
    return body


def cohost_event_body(booking: Mapping[str, Any], user: str, link: str, calendar_name: str = "") -> dict[str, Any]:
    """``events.insert`` of a co-host's own event (rule 20): the booking's times, subject and ``link``, no
    attendees and no conference (the invitee's invitation and the meeting are the organizer's)."""
    body = {k: v for k, v in event_body(booking, calendar_name).items()
            if k not in ("attendees", "conferenceData", "location")}
    body.update(id=cohost_event_id(str(booking["workspace"]), str(booking["id"]), user),
                **link_patch(booking, link) if link else {"description": description(booking, "")})
    return body


def times_patch(booking: Mapping[str, Any]) -> dict[str, Any]:
    """``events.patch`` moving the event to the booking's times (the conference is kept)."""
    zone = str(booking.get("calendar_timezone") or "UTC")
    return {"start": _time(booking.get("start_utc"), zone), "end": _time(booking.get("end_utc"), zone)}


def link_patch(booking: Mapping[str, Any], link: str) -> dict[str, Any]:
    """``events.patch`` adding a link made after the event (a Teams link that came later, or a new one)."""
    return {"location": link, "description": description(booking, link)}


def meet_link(event: Mapping[str, Any]) -> str:
    """The Meet link of an event answer ('' while the conference is not made yet)."""
    data = event.get("conferenceData") if isinstance(event, Mapping) else None
    for entry in (data or {}).get("entryPoints") or [] if isinstance(data, Mapping) else []:
        if isinstance(entry, Mapping) and entry.get("entryPointType") == "video" and entry.get("uri"):
            return str(entry["uri"])
    return str(event.get("hangoutLink") or "") if isinstance(event, Mapping) else ""


def meet_pending(event: Mapping[str, Any]) -> bool:
    """True while Google is still making the conference (``createRequest.status.statusCode`` ``pending``)."""
    data = event.get("conferenceData") or {}
    status = ((data.get("createRequest") or {}).get("status") or {}) if isinstance(data, Mapping) else {}
    return str(status.get("statusCode") or "") == "pending"
