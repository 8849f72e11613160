"""Google events and Meet links on Azurite (issue 20): the reconciler's Google step writes its fields on the
booking row with real ETag-guarded Table writes; Calendar v3 is ``responses`` held to Google's contract."""
from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from shared.adapters.google_calendar import GoogleCalendarClient
from shared.domain import google_events
from shared.ports import iso_utc
from tests.google_contract_check import check_calls
from tests.unit.meetings.google_fakes import GOOGLE_BASE, FakeGoogleCalendar


@pytest.fixture
def google(h, graph_mock):
    fake = FakeGoogleCalendar(graph_mock)
    h.ports["google_calendar"] = GoogleCalendarClient(GOOGLE_BASE, requests.Session())
    yield fake
    assert check_calls(graph_mock.calls, GOOGLE_BASE) == []


def test_a_google_members_booking_is_written_moved_and_cancelled_once_on_azurite(h, google):
    h.connect("google_calendar", oid="109876543210", tid="google")
    b = h.add_booking(calendar_provider="google", location="none", link_state="not_applicable")
    h.deliver(h.message(b))
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["google_event_id"] == google_events.event_id(h.ws, b["id"]) and len(google.calls("POST")) == 1
    start = h.clock.now().replace(hour=14, minute=0, second=0, microsecond=0) + timedelta(days=5)
    moved = h.change_booking(b["id"], start_utc=iso_utc(start), end_utc=iso_utc(start + timedelta(minutes=30)))
    h.deliver(h.message(moved, "reschedule"))
    assert h.booking(b["id"])["google_synced_revision"] == 2 and len(google.calls("PATCH")) == 1
    cancelled = h.change_booking(b["id"], status="cancelled")
    h.deliver(h.message(cancelled, "cancel"))
    h.deliver(h.message(cancelled, "cancel"))
    assert len(google.calls("DELETE")) == 1 and h.booking(b["id"])["google_cancelled"] is True


def test_a_meet_booking_gets_its_link_and_its_confirmation_on_azurite(h, google):
    h.connect("google_calendar", oid="109876543210", tid="google")
    b = h.add_booking(location="google_meet", link_state="pending")
    h.deliver(h.message(b))
    stored = h.booking(b["id"])
    assert stored["link_state"] == "created" and stored["meeting_url"].startswith("https://meet.google.com/")
    assert [m["kind"] for m in h.queue.on("communications") if m["booking_id"] == b["id"]] == ["confirmation"]
