"""Google members in availability (issue 20, point 4; rule 28): ``freeBusy.query`` with the member's own
``google_calendar`` token, failing closed with the reason in diagnostics; round robin and collective calendars
mixing Microsoft, Google and no-provider members. Google's behaviour: "Freebusy: query" (busy periods per
calendar, ``errors`` on a calendar it could not read) and "Handle API errors" (401 authError)."""
from __future__ import annotations

import json

import pytest

from shared.errors import ReauthRequired
from tests.google_contract_check import check_calls
from tests.unit.booking.google_fakes import GOOGLE, GoogleFreeBusy
from tests.unit.booking.helpers import Api, ScheduleStandIn, calendar_body, connect, day_slots, member

MONDAY = "2026-11-23"
ALL_MONDAY = [f"2026-11-23T{h:02d}:{m:02d}:00Z" for h in range(8, 16) for m in (0, 30)]
OUTLOOK_ALL_DAY = [("2026-11-23T08:00:00Z", "2026-11-23T16:00:00Z", "busy")]
GOOGLE_BUSY_BUT_TEN = [("2026-11-23T08:00:00Z", "2026-11-23T10:00:00Z"),
                       ("2026-11-23T10:30:00Z", "2026-11-23T16:00:00Z")]


@pytest.fixture
def gapi(store, queue, clock, tokens):
    from shared.bootstrap import install

    yield Api(store, queue, clock, tokens=tokens, settings={"GOOGLE_CALENDAR_BASE_URL": GOOGLE})
    install(None)


def _mixed(gapi, store, calendars):
    gapi.setup("acme", ["alice", "gina", "nate"], calendars)
    connect(store, "acme", "alice")
    connect(store, "acme", "gina", kind="google_calendar", mailbox="")


def test_mixed_round_robin_offers_the_slot_only_the_google_member_has_and_assigns_it_to_her(gapi, store, graph,
                                                                                            tokens):
    members = [member("alice", provider="microsoft"), member("gina", provider="google")]
    _mixed(gapi, store, {"rr": calendar_body("rr", members, type="round_robin")})
    ScheduleStandIn(busy={"alice@contoso.test": OUTLOOK_ALL_DAY}).install(graph)
    google = GoogleFreeBusy({"gina": GOOGLE_BUSY_BUT_TEN}).install(graph)
    r = gapi.slots("rr", MONDAY, MONDAY)
    assert day_slots(r) == ["2026-11-23T10:00:00Z"]  # alice is busy in Outlook, gina free 10:00-10:30 in Google
    assert google.calls and google.calls[0]["items"] == [{"id": "primary"}]
    assert ("acme", "gina", "google_calendar") in tokens.calls
    booked = gapi.book("rr", "2026-11-23T10:00:00Z")
    assert booked.status == 201 and booked.body["hosts"][0]["user"] == "gina"
    assert check_calls(graph.calls, GOOGLE) == []


def test_a_no_provider_member_mixes_in(gapi, store, graph):
    members = [member("alice", provider="microsoft"), member("gina", provider="google"), member("nate")]
    _mixed(gapi, store, {"rr3": calendar_body("rr3", members, type="round_robin")})
    ScheduleStandIn(busy={"alice@contoso.test": OUTLOOK_ALL_DAY}).install(graph)
    GoogleFreeBusy({"gina": [("2026-11-23T08:00:00Z", "2026-11-23T16:00:00Z")]}).install(graph)
    assert day_slots(gapi.slots("rr3", MONDAY, MONDAY)) == ALL_MONDAY  # nate's weekly hours alone
    assert gapi.book("rr3", "2026-11-23T09:00:00Z").body["hosts"][0]["user"] == "nate"


def test_a_google_busy_block_hides_the_slot_on_a_collective_calendar(gapi, store, graph):
    members = [member("alice", provider="microsoft"), member("gina", provider="google")]
    _mixed(gapi, store, {"co": calendar_body("co", members, type="collective")})
    ScheduleStandIn().install(graph)
    GoogleFreeBusy({"gina": [("2026-11-23T09:00:00Z", "2026-11-23T10:00:00Z")]}).install(graph)
    slots = day_slots(gapi.slots("co", MONDAY, MONDAY))
    assert "2026-11-23T09:00:00Z" not in slots and "2026-11-23T09:30:00Z" not in slots
    assert "2026-11-23T08:30:00Z" in slots and "2026-11-23T10:00:00Z" in slots


def test_a_revoked_google_grant_makes_the_member_busy_with_the_reason_in_diagnostics(gapi, store, graph, tokens):
    _mixed(gapi, store, {"g": calendar_body("gina", [member("gina", provider="google")])})
    GoogleFreeBusy().install(graph)
    tokens.failures["gina"] = ReauthRequired(reason="invalid_grant")
    assert gapi.slots("gina", MONDAY, MONDAY).body["slots"] == []
    diag = gapi.diagnostics("acme", "g").body
    entry = diag["members"][0]
    assert entry["calendar_provider"] == "google" and entry["free_busy"]["readable"] is False
    assert "Google calendar connection must be renewed" in entry["free_busy"]["reason"] and not diag["ready"]


@pytest.mark.parametrize("status,needle", [("needs_reauth", "needs_reauth: they must connect again"),
                                           (None, "has not connected a Google calendar")])
def test_a_google_member_without_a_usable_connection_fails_closed(gapi, store, graph, status, needle):
    gapi.setup("acme", ["gina"], {"g": calendar_body("gina", [member("gina", provider="google")])})
    if status:
        connect(store, "acme", "gina", kind="google_calendar", status=status)
    GoogleFreeBusy().install(graph)
    assert gapi.slots("gina", MONDAY, MONDAY).body["slots"] == []
    assert needle in gapi.diagnostics("acme", "g").body["members"][0]["free_busy"]["reason"]


def test_a_calendar_google_could_not_read_fails_closed(gapi, store, graph):
    _mixed(gapi, store, {"g": calendar_body("gina", [member("gina", provider="google")])})
    GoogleFreeBusy().install(graph).errors["gina"] = "notFound"
    assert gapi.slots("gina", MONDAY, MONDAY).body["slots"] == []
    assert "(notFound)" in gapi.diagnostics("acme", "g").body["members"][0]["free_busy"]["reason"]


def test_a_refused_token_is_renewed_once(gapi, store, graph, tokens):
    _mixed(gapi, store, {"g": calendar_body("gina", [member("gina", provider="google")])})
    google = GoogleFreeBusy({"gina": [("2026-11-23T08:00:00Z", "2026-11-23T09:00:00Z")]}).install(graph)
    google.unauthorized_once.add("gina")
    assert day_slots(gapi.slots("gina", MONDAY, MONDAY)) == ALL_MONDAY[2:]
    assert len(google.calls) == 2
    assert check_calls(graph.calls, GOOGLE) == []


def test_google_meet_needs_a_connected_google_calendar_422_otherwise(gapi, store):
    gapi.setup("acme", ["gina"], {})
    body = calendar_body("meet", [member("gina", "google_meet", provider="google")])
    refused = gapi.put_calendar("acme", "meet", body)
    assert refused.status == 422
    assert refused.body["error"]["field"] == "members[0].meeting_location"
    assert "connected Google Calendar" in refused.body["error"]["message"]
    assert store.get("calendars", "acme", "meet") is None  # nothing stored
    connect(store, "acme", "gina", kind="google_calendar")
    assert gapi.put_calendar("acme", "meet", body).status in (200, 201)
    event_type = calendar_body("ev", [member("gina", "google_meet")], type="event")
    assert gapi.put_calendar("acme", "ev", event_type).status == 422


def test_a_google_members_booking_records_the_provider_and_a_meet_booking_waits_for_its_link(gapi, store, graph):
    connect(store, "acme", "gina", kind="google_calendar")
    gapi.setup("acme", ["gina"], {"meet": calendar_body("meet", [member("gina", "google_meet", provider="google")])})
    GoogleFreeBusy().install(graph)
    made = gapi.book("meet", "2026-11-23T10:00:00Z")
    assert made.status == 201, made.body
    row = store.get("schedule", "acme|gina", f"booking|{made.body['id']}")
    assert row["calendar_provider"] == "google" and row["location"] == "google_meet"
    assert row["link_state"] == "pending"


def test_a_collective_booking_records_its_google_cohosts_provider(gapi, store, graph):
    """Rule 20 with rule 28: intake records on the booking which co-host's own event goes to Google (the
    reconciler writes it with that co-host's google_calendar connection); the organizer and the Microsoft
    members are not recorded (their events are Outlook's)."""
    members = [member("alice", provider="microsoft"), member("gina", provider="google"), member("nate")]
    _mixed(gapi, store, {"co3": calendar_body("co3", members, type="collective")})
    ScheduleStandIn().install(graph)
    GoogleFreeBusy().install(graph)
    made = gapi.book("co3", "2026-11-23T10:00:00Z")
    assert made.status == 201, made.body
    row = store.get("schedule", "acme|alice", f"booking|{made.body['id']}")
    assert json.loads(row["participants_json"]) == {"gina": {"event": "none", "provider": "google"}}
    assert "calendar_provider" not in row  # the organizer keeps no Google event
