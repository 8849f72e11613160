"""Templates: the meeting URL verbatim in both parts, escaping, time zones, wording."""
from __future__ import annotations

import dataclasses
import html
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from shared.mail.templates import KINDS, BookingView, format_time_range, render
from tests.unit.mail.helpers import TEAMS_URL

INVITEE_KINDS = ("confirmation", "reminder", "link_update", "reschedule")


class _Anchors(HTMLParser):
    """Collects (href, visible text) of every <a>, and every <script> tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[tuple[str, str]] = []
        self.scripts = 0
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.anchors.append((self._href, "".join(self._text)))
            self._href = None


def _anchors(markup: str) -> _Anchors:
    parser = _Anchors()
    parser.feed(markup)
    parser.close()
    return parser


@pytest.mark.parametrize("kind", INVITEE_KINDS)
def test_meeting_url_is_verbatim_in_text_and_html(view: BookingView, kind: str) -> None:
    rendered = render(kind, view)
    assert TEAMS_URL in rendered.text
    # In the markup the URL is escaped once (& -> &amp;, < -> &lt;) ...
    assert f'href="{html.escape(TEAMS_URL, quote=True)}"' in rendered.html
    assert "&amp;anon=true" in rendered.html
    # ... and once parsed it is exactly the stored URL, as href and as visible text.
    assert (TEAMS_URL, TEAMS_URL) in _anchors(rendered.html).anchors


def test_cancellation_carries_no_join_link(view: BookingView) -> None:
    rendered = render("cancellation", view)
    assert TEAMS_URL not in rendered.text
    assert "cancelled" in rendered.text.lower()
    assert all(href != TEAMS_URL for href, _ in _anchors(rendered.html).anchors)


@pytest.mark.parametrize("kind", KINDS)
def test_user_values_are_escaped_in_html(view: BookingView, kind: str) -> None:
    hostile = dataclasses.replace(
        view,
        invitee_name="<script>alert(1)</script>",
        calendar_name='Call "><img src=x onerror=alert(2)>',
        host_names=("<b>Host</b>",),
        notes="<script>alert(3)</script>\nsecond line",
        link_reason="<i>why</i>",
        link_state="created",
    )
    rendered = render(kind, hostile)
    parsed = _anchors(rendered.html)
    assert parsed.scripts == 0
    assert "<script>" not in rendered.html
    assert "<img" not in rendered.html
    assert "<b>Host</b>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    # the text part shows the values as typed (it is not markup)
    assert "<script>alert(1)</script>" in rendered.text


def test_subject_is_one_line_even_with_newlines_in_values(view: BookingView) -> None:
    rendered = render("confirmation", dataclasses.replace(view, calendar_name="Call\r\nBcc: x@evil.test"))
    assert "\n" not in rendered.subject and "\r" not in rendered.subject
    assert rendered.subject.startswith("Confirmed: Call Bcc: x@evil.test")


def test_non_http_urls_are_never_links(view: BookingView) -> None:
    rendered = render("confirmation", dataclasses.replace(
        view, meeting_url="javascript:alert(1)", link_state="static", cancel_url="javascript:alert(2)"))
    hrefs = [href for href, _ in _anchors(rendered.html).anchors]
    assert not any(h.startswith("javascript") for h in hrefs)
    assert "javascript:alert(1)" in rendered.text  # still shown verbatim, as text


def test_times_are_shown_in_the_invitee_timezone_with_its_name(view: BookingView) -> None:
    winter = render("confirmation", view)
    assert "Tuesday, 20 January 2026, 14:00 - 14:30 (Europe/Berlin, CET)" in winter.text
    assert "Tuesday, 20 January 2026, 14:00 - 14:30 (Europe/Berlin, CET)" in winter.html
    summer = render("reminder", dataclasses.replace(
        view, start_utc=datetime(2026, 7, 1, 22, 30, tzinfo=UTC),
        end_utc=datetime(2026, 7, 1, 23, 15, tzinfo=UTC),
        invitee_timezone="America/Los_Angeles"))
    assert "Wednesday, 1 July 2026, 15:30 - 16:15 (America/Los_Angeles, PDT)" in summer.text
    assert "15:30 PDT" in summer.subject


def test_time_range_across_midnight_and_unknown_zone() -> None:
    start = datetime(2026, 3, 1, 22, 30, tzinfo=UTC)
    end = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert format_time_range(start, end, "Asia/Tokyo") == (
        "Monday, 2 March 2026, 07:30 - 08:30 (Asia/Tokyo, JST)")
    assert format_time_range(start, end, "Europe/Helsinki") == (
        "Monday, 2 March 2026, 00:30 - 01:30 (Europe/Helsinki, EET)")
    assert format_time_range(start, end, "America/Sao_Paulo").endswith("(America/Sao_Paulo, UTC-03)")
    assert format_time_range(start, end, "Not/AZone") == "Sunday, 1 March 2026, 22:30 - 23:30 (UTC)"
    late = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
    assert format_time_range(start, late, "UTC") == (
        "Sunday, 1 March 2026, 22:30 - Monday, 2 March 2026, 00:30 (UTC)")


@pytest.mark.parametrize("kind", ("confirmation", "reminder", "reschedule"))
def test_awaiting_connection_says_the_link_will_follow(view: BookingView, kind: str) -> None:
    waiting = dataclasses.replace(view, meeting_url=None, link_state="awaiting_connection")
    rendered = render(kind, waiting)
    for part in (rendered.text, rendered.html):
        assert "The meeting link will follow by email." in part
        assert "Join the meeting" not in part
        assert TEAMS_URL not in part


def test_link_update_announces_the_link(view: BookingView) -> None:
    rendered = render("link_update", view)
    assert rendered.subject.startswith("Your meeting link:")
    assert "The meeting link for your booking is now available." in rendered.text
    assert f"Join the meeting: {TEAMS_URL}" in rendered.text


def test_reminder_mentions_the_offset(view: BookingView) -> None:
    assert "starts in 1 hour." in render("reminder", view, offset_minutes=60).text
    assert "starts in 2 days." in render("reminder", view, offset_minutes=2880).text
    assert "starts in 15 minutes." in render("reminder", view, offset_minutes=15).text


def test_reschedule_shows_the_previous_time(view: BookingView) -> None:
    moved = dataclasses.replace(view, previous_start_utc=datetime(2026, 1, 19, 9, 0, tzinfo=UTC))
    text = render("reschedule", moved).text
    assert "Previously: Monday, 19 January 2026, 10:00 - 10:30 (Europe/Berlin, CET)" in text
    assert "Tuesday, 20 January 2026, 14:00 - 14:30" in text


def test_manage_links_are_present_and_escaped(view: BookingView) -> None:
    rendered = render("confirmation", view)
    assert "Manage your booking: https://book.example.com/manage?token=abc&ws=1" in rendered.text
    assert ("https://book.example.com/cancel?token=abc&ws=1", "Cancel") in _anchors(rendered.html).anchors
    assert 'href="https://book.example.com/cancel?token=abc&amp;ws=1"' in rendered.html


def test_custom_location_without_url(view: BookingView) -> None:
    rendered = render("confirmation", dataclasses.replace(
        view, meeting_url=None, link_state="not_applicable", custom_location="Room 4 <east wing>"))
    assert "Where: Room 4 <east wing>" in rendered.text
    assert "Room 4 &lt;east wing&gt;" in rendered.html


@pytest.mark.parametrize("state", ("awaiting_connection", "failed"))
def test_host_notice_explains_why_and_how_to_fix(view: BookingView, state: str) -> None:
    notice = dataclasses.replace(
        view, meeting_url=None, link_state=state,
        link_reason="The Microsoft Teams connection was revoked; sign in again.",
        reconnect_url="https://app.example.com/connect/teams?t=xyz&ws=1",
        host_timezone="America/New_York")
    rendered = render("host_notice", notice, recipient_name="Hana")
    assert rendered.subject.startswith("Action needed:")
    assert "Hello Hana," in rendered.text
    assert "Ana Invitee <ana@example.com>" in rendered.text
    assert "Reason:" in rendered.text and "connection was revoked" in rendered.text
    assert "Reconnect Microsoft Teams: https://app.example.com/connect/teams?t=xyz&ws=1" in rendered.text
    assert ("https://app.example.com/connect/teams?t=xyz&ws=1", "Reconnect Microsoft Teams") in (
        _anchors(rendered.html).anchors)
    assert "08:00 - 08:30 (America/New_York, EST)" in rendered.text  # the host's zone
    assert "sent to the invitee automatically" in rendered.text


def test_unknown_kind_is_refused(view: BookingView) -> None:
    with pytest.raises(ValueError):
        render("newsletter", view)


def test_times_follow_the_invitees_clock(view: BookingView) -> None:
    """Issue 21 (9): the page showed "9:30 AM" while the email said "09:30"; the email now uses the same clock."""
    start = datetime(2026, 3, 3, 14, 5, tzinfo=UTC)
    end = datetime(2026, 3, 3, 14, 35, tzinfo=UTC)
    assert "2:05 PM - 2:35 PM" in format_time_range(start, end, "UTC", "12h")
    assert "14:05 - 14:35" in format_time_range(start, end, "UTC", "24h")
    assert "14:05 - 14:35" in format_time_range(start, end, "UTC")  # no preference: 24-hour
    midnight = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    assert "12:00 AM - 12:30 AM" in format_time_range(midnight, midnight.replace(minute=30), "UTC", "12h")
    twelve = dataclasses.replace(view, time_format="12h", start_utc=start, end_utc=end, invitee_timezone="UTC")
    rendered = render("confirmation", twelve)
    assert "2:05 PM - 2:35 PM" in rendered.text and "2:05 PM UTC" in rendered.subject
    assert "14:05" not in rendered.text and "2:05 PM - 2:35 PM" in rendered.html


def test_notes_keep_their_line_breaks_in_text_and_html(view: BookingView) -> None:
    """Issue 21: an invitee's notes arrive as written, line by line."""
    rendered = render("confirmation", dataclasses.replace(view, notes="First line\nSecond line\n\nAfter a gap"))
    assert "Notes:\nFirst line\nSecond line\n\nAfter a gap" in rendered.text
    assert "First line<br>Second line<br><br>After a gap" in rendered.html
