"""iCalendar (RFC 5545 / iTIP RFC 5546) invitations and cancellations, built with ``icalendar``.

One booking is one event: its UID is stable (:func:`booking_uid`) and its SEQUENCE is
the booking's revision, so a reschedule (REQUEST, higher SEQUENCE) updates the event
in the invitee's calendar and a CANCEL with the same UID removes it.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from icalendar import Calendar, Event, vCalAddress

from shared.mail.message import Attachment, clean_header_value, normalize_address

Method = Literal["REQUEST", "CANCEL"]

#: File name of the attached invitation.
ICS_FILENAME = "invite.ics"
#: PRODID of every calendar object we produce.
PRODID = "-//bookbridge//bookbridge//EN"


def booking_uid(booking_id: str, domain: str = "bookbridge") -> str:
    """The stable iCalendar UID of a booking: ``{booking_id}@bookbridge``."""
    return f"{clean_header_value(booking_id)}@{domain}"


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC)")
    return value.astimezone(UTC)


def _multiline(value: str) -> str:
    lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(clean_header_value(line) for line in lines).strip()


def _is_clean_uri(value: str) -> bool:
    return bool(value) and not any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value)


def _cal_address(email: str, name: str | None, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{normalize_address(email)}")
    display = clean_header_value(name or "", max_length=120)
    if display:
        address.params["cn"] = display
    for key, value in params.items():
        address.params[key] = value
    return address


def build_invitation(
    *,
    method: Method,
    uid: str,
    sequence: int,
    start_utc: datetime,
    end_utc: datetime,
    summary: str,
    organizer: tuple[str, str | None],
    attendee: tuple[str, str | None],
    dtstamp: datetime,
    description: str = "",
    location: str | None = None,
    url: str | None = None,
) -> bytes:
    """A ``VCALENDAR`` with ``METHOD:REQUEST`` or ``METHOD:CANCEL`` and one ``VEVENT``, as bytes.

    ``organizer`` and ``attendee`` are ``(email, display name)``. When ``url`` is given
    it is the event's URL (if free of whitespace and control characters), its LOCATION
    unless ``location`` says otherwise, and it is appended to DESCRIPTION if not already
    there. CANCEL sets ``STATUS:CANCELLED``; REQUEST sets ``STATUS:CONFIRMED``. Raises ``ValueError`` for an
    unknown method, a negative sequence or naive datetimes, and ``DeliveryRejected`` for a malformed address.
    """
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unsupported iTIP method {method!r}")
    if sequence < 0:
        raise ValueError("sequence must be >= 0")
    start, end = _utc(start_utc, "start_utc"), _utc(end_utc, "end_utc")
    if end <= start:
        raise ValueError("end_utc must be after start_utc")

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)

    event = Event()
    event.add("uid", clean_header_value(uid))
    event.add("sequence", int(sequence))
    event.add("dtstamp", _utc(dtstamp, "dtstamp"))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", clean_header_value(summary))
    text = _multiline(description)
    if url and url not in text:
        text = f"{text}\n\nJoin the meeting: {url}" if text else f"Join the meeting: {url}"
    if text:
        event.add("description", text)
    where = clean_header_value(location) if location else (url or "")
    if where:
        event.add("location", where)
    if url and _is_clean_uri(url):
        event.add("url", url)  # URI values are not escaped: only a clean one is written
    event.add("organizer", _cal_address(*organizer))
    event.add("attendee", _cal_address(
        *attendee, role="REQ-PARTICIPANT", partstat="NEEDS-ACTION", rsvp="TRUE"))
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    cal.add_component(event)
    return bytes(cal.to_ical())


def invitation_attachment(ics: bytes, method: Method) -> Attachment:
    """``ics`` as the ``invite.ics`` attachment, typed
    ``text/calendar; method=<METHOD>; charset=UTF-8``."""
    return Attachment(ICS_FILENAME, f"text/calendar; method={method}; charset=UTF-8", ics)
