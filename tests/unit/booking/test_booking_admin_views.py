"""Issue 15, "Nobody but the invitee can see a booking": host and admin views (function key)."""
from __future__ import annotations

from functions import booking_admin
from tests.unit.booking.helpers import calendar_body, member, request

SLOT = "2026-11-23T10:00:00Z"


def setup(api):
    api.setup("acme", ["alice", "bob"], {"p": calendar_body("t", [member("alice", "teams")])})
    made = api.book("t", SLOT).body
    api.work_meetings()  # the reconciler's first look: alice has no Teams connection
    return made


def test_a_host_lists_its_bookings_with_the_link_state_and_reason(api, store) -> None:
    made = setup(api)
    r = request(booking_admin.management_user_bookings, "GET", {"workspace": "acme", "user": "alice"})
    assert r.status == 200, r.body
    [view] = r.body["bookings"]
    assert view["id"] == made["id"] and view["link_status"] == "awaiting_connection"
    assert "Teams" in view["link_reason"]
    assert view["next_attempt_at"] is None  # waiting for a connection is not a retry
    assert view["participants"] == [{"user": "alice", "role": "organizer", "event": "none"}]
    for key in ("meeting_url", "organizer", "graph_sync_error", "delivery_error", "history"):
        assert key in view
    filtered = request(booking_admin.management_user_bookings, "GET", {"workspace": "acme", "user": "alice"},
                       params={"link_status": "created"})
    assert filtered.body["bookings"] == []
    later = request(booking_admin.management_user_bookings, "GET", {"workspace": "acme", "user": "alice"},
                    params={"from": "2026-11-23T10:00:01Z"})
    assert later.body["bookings"] == []
    assert request(booking_admin.management_user_bookings, "GET",
                   {"workspace": "acme", "user": "bob"}).body["bookings"] == []


def test_bad_filters_are_422_naming_the_field(api) -> None:
    setup(api)
    for params, field in (({"link_status": "weird"}, "link_status"), ({"from": "yesterday"}, "from")):
        r = request(booking_admin.management_user_bookings, "GET", {"workspace": "acme", "user": "alice"},
                    params=params)
        assert r.status == 422 and r.body["error"]["field"] == field
    assert request(booking_admin.management_user_bookings, "GET",
                   {"workspace": "acme", "user": "zed"}).status == 404


def test_an_admin_reads_a_booking_by_id_alone(api) -> None:
    made = setup(api)
    r = request(booking_admin.management_booking, "GET", {"workspace": "acme", "id": made["id"]})
    assert r.status == 200 and r.body["id"] == made["id"] and r.body["host"] == "alice"
    assert request(booking_admin.management_booking, "GET",
                   {"workspace": "acme", "id": "0" * 32}).status == 404
    bad = request(booking_admin.management_booking, "GET", {"workspace": "acme", "id": "x"})
    assert bad.status == 422 and bad.body["error"]["field"] == "id"
