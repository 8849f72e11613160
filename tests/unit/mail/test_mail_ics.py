"""iCalendar invitations: parse back with icalendar and check the iTIP essentials."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from icalendar import Calendar

from shared.errors import DeliveryRejected
from shared.mail.ics import ICS_FILENAME, booking_uid, build_invitation, invitation_attachment
from tests.unit.mail.helpers import TEAMS_URL

START = datetime(2026, 1, 20, 13, 0, tzinfo=UTC)
END = datetime(2026, 1, 20, 13, 30, tzinfo=UTC)
STAMP = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)


def _build(method: str = "REQUEST", sequence: int = 0, **overrides: object) -> bytes:
    args: dict[str, object] = dict(
        method=method, uid=booking_uid("b0c1d2e3"), sequence=sequence, start_utc=START, end_utc=END,
        summary="Intro call with Hana Host", description="Booked via bookbridge.",
        url=TEAMS_URL, organizer=("hana@contoso.example", "Hana Host"),
        attendee=("ana@example.com", "Ana Invitee"), dtstamp=STAMP)
    args.update(overrides)
    return build_invitation(**args)  # type: ignore[arg-type]


def _event(raw: bytes) -> tuple[Calendar, object]:
    cal = Calendar.from_ical(raw)
    events = cal.walk("VEVENT")
    assert len(events) == 1
    return cal, events[0]


def test_request_has_method_uid_sequence_times_and_link() -> None:
    raw = _build(sequence=3)
    assert raw.startswith(b"BEGIN:VCALENDAR\r\n")
    cal, event = _event(raw)
    assert str(cal["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == "b0c1d2e3@bookbridge"  # type: ignore[index]
    assert int(event["SEQUENCE"]) == 3  # type: ignore[index]
    assert event["DTSTART"].dt == START and event["DTEND"].dt == END  # type: ignore[index]
    assert str(event["LOCATION"]) == TEAMS_URL  # type: ignore[index]
    assert TEAMS_URL in str(event["DESCRIPTION"])  # type: ignore[index]
    assert str(event["DESCRIPTION"]).startswith("Booked via bookbridge.")  # type: ignore[index]
    assert str(event["URL"]) == TEAMS_URL  # type: ignore[index]
    assert str(event["STATUS"]) == "CONFIRMED"  # type: ignore[index]
    assert str(event["ORGANIZER"]) == "mailto:hana@contoso.example"  # type: ignore[index]
    attendee = event["ATTENDEE"]  # type: ignore[index]
    assert str(attendee) == "mailto:ana@example.com"
    assert attendee.params["CN"] == "Ana Invitee"
    assert attendee.params["RSVP"] == "TRUE"


def test_cancel_keeps_uid_and_is_cancelled() -> None:
    request_cal, request = _event(_build(sequence=1))
    cancel_cal, cancel = _event(_build(method="CANCEL", sequence=2))
    assert str(cancel_cal["METHOD"]) == "CANCEL"
    assert str(cancel["STATUS"]) == "CANCELLED"  # type: ignore[index]
    assert str(cancel["UID"]) == str(request["UID"])  # type: ignore[index]
    assert int(cancel["SEQUENCE"]) > int(request["SEQUENCE"])  # type: ignore[index]


def test_explicit_location_wins_and_url_is_still_in_description() -> None:
    _, event = _event(_build(location="Room 4", description=""))
    assert str(event["LOCATION"]) == "Room 4"  # type: ignore[index]
    assert str(event["DESCRIPTION"]) == f"Join the meeting: {TEAMS_URL}"  # type: ignore[index]


def test_without_url_there_is_no_location_or_url() -> None:
    _, event = _event(_build(url=None, description="No link yet."))
    assert "LOCATION" not in event  # type: ignore[operator]
    assert "URL" not in event  # type: ignore[operator]


def test_hostile_text_cannot_add_properties() -> None:
    raw = _build(summary="Call\r\nATTENDEE:mailto:eve@evil.test",
                 description="line1\r\nATTENDEE:mailto:eve@evil.test",
                 organizer=("hana@contoso.example", 'Hana"\r\nATTENDEE:mailto:eve@evil.test'),
                 url="https://x.example/a\r\nATTENDEE:mailto:eve@evil.test")
    _, event = _event(raw)
    attendees = event["ATTENDEE"]  # type: ignore[index]
    assert not isinstance(attendees, list)
    assert str(attendees) == "mailto:ana@example.com"
    assert b"\r\nATTENDEE:mailto:eve" not in raw
    assert "URL" not in event  # type: ignore[operator]  # an unclean URI is not written as URL


def test_refusals() -> None:
    with pytest.raises(ValueError):
        _build(method="PUBLISH")
    with pytest.raises(ValueError):
        _build(start_utc=datetime(2026, 1, 20, 13, 0))  # naive
    with pytest.raises(ValueError):
        _build(end_utc=START)
    with pytest.raises(DeliveryRejected):
        _build(attendee=("ana@example.com\r\nX", None))


def test_attachment_shape() -> None:
    raw = _build()
    att = invitation_attachment(raw, "REQUEST")
    assert att.filename == ICS_FILENAME == "invite.ics"
    assert att.content_type == "text/calendar; method=REQUEST; charset=UTF-8"
    assert att.content == raw
    assert invitation_attachment(raw, "CANCEL").content_type == "text/calendar; method=CANCEL; charset=UTF-8"
