"""Sample values shared by the mail tests."""
from __future__ import annotations

from datetime import UTC, datetime

from shared.mail.templates import BookingView

#: A Teams-like join URL with characters that trip up HTML escaping and MIME encoding.
TEAMS_URL = (
    "https://teams.microsoft.com/l/meetup-join/19%3ameeting_NjQ5ZTQ2YjMtZWI4Yy00MzQ4%40thread.v2/0"
    "?context=%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%2c%22Oid%22%3a%22"
    "550fae72-d251-43ec-868c-373732c2704f%22%7d&anon=true&x=<y>"
)


def sample_view() -> BookingView:
    """A confirmed booking with a Teams link, in winter (CET)."""
    return BookingView(
        calendar_name="Intro call",
        host_names=("Hana Host",),
        invitee_name="Ana Invitee",
        invitee_email="ana@example.com",
        invitee_timezone="Europe/Berlin",
        start_utc=datetime(2026, 1, 20, 13, 0, tzinfo=UTC),
        end_utc=datetime(2026, 1, 20, 13, 30, tzinfo=UTC),
        meeting_url=TEAMS_URL,
        link_state="created",
        manage_url="https://book.example.com/manage?token=abc&ws=1",
        reschedule_url="https://book.example.com/reschedule?token=abc&ws=1",
        cancel_url="https://book.example.com/cancel?token=abc&ws=1",
    )
