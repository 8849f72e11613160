"""Management API: workspaces, users, calendars (validation, slug uniqueness) and diagnostics."""
from __future__ import annotations

import copy

import pytest

from shared.errors import ReauthRequired
from tests.unit.booking.helpers import calendar_body, connect, member

ISSUE_EXAMPLE = {
    "slug": "intro-call", "name": "Intro call", "type": "round_robin", "timezone": "Europe/Berlin",
    "duration_minutes": 30, "slot_interval_minutes": 30,
    "weekly_hours": {"monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}],
                     "tuesday": [{"start": "09:00", "end": "17:00"}]},
    "buffer_before_minutes": 0, "buffer_after_minutes": 10, "minimum_notice_minutes": 120, "max_days_ahead": 60,
    "reminder_offsets_minutes": [1440, 60],
    "members": [{"user": "alice", "meeting_location": "teams", "calendar_provider": "microsoft"},
                {"user": "bob", "meeting_location": "custom", "custom_url": "https://example.com/room",
                 "calendar_provider": "none", "weight": 2}],
}


@pytest.fixture
def acme(api):
    api.put_workspace("acme")
    api.put_user("acme", "alice")
    api.put_user("acme", "bob")
    return api


def calendar_tables_empty(store) -> bool:
    return store.all("calendars") == [] and store.all("calendarslugs") == []


def test_workspace_and_user_put_get(api):
    r = api.put_workspace("acme", "Acme Ltd")
    assert r.status == 201 and r.body["name"] == "Acme Ltd"
    assert api.put_workspace("acme", "Acme Inc").status == 200
    from functions import management
    from tests.unit.booking.helpers import request

    assert request(management.management_workspace, "GET", {"workspace": "acme"}).body["name"] == "Acme Inc"
    assert request(management.management_workspace, "GET", {"workspace": "nope"}).status == 404
    r = api.put_user("acme", "alice", email="alice@acme.test")
    assert r.status == 201 and r.body["email"] == "alice@acme.test"
    got = request(management.management_user, "GET", {"workspace": "acme", "user": "alice"})
    assert got.status == 200 and got.body["timezone"] == "Europe/Berlin"
    assert request(management.management_user, "GET", {"workspace": "acme", "user": "zed"}).status == 404


@pytest.mark.parametrize("over, field", [
    ({"email": "not-an-email"}, "email"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"name": 42}, "name"),
    ({"extra": "x"}, "extra"),
])
def test_user_bad_input_is_422_naming_the_field(api, store, over, field):
    api.put_workspace("acme")
    r = api.put_user("acme", "alice", **over)
    assert r.status == 422 and r.body["error"]["field"] == field
    assert store.all("users") == []


def test_user_of_unknown_workspace_is_404(api, store):
    assert api.put_user("ghost", "alice").status == 404
    assert store.all("users") == []


def test_bad_route_id_is_422(api, store):
    r = api.put_workspace("bad|id")
    assert r.status == 422 and r.body["error"]["field"] == "workspace"
    assert store.all("workspaces") == []


def test_issue_example_calendar_round_trips(acme, store):
    r = acme.put_calendar("acme", "intro", ISSUE_EXAMPLE)
    assert r.status == 201, r.body
    got = acme.get_calendar("acme", "intro")
    assert got.status == 200
    for key, value in ISSUE_EXAMPLE.items():
        if key != "members":
            assert got.body[key] == value, key
    assert [m["user"] for m in got.body["members"]] == ["alice", "bob"]
    assert got.body["members"][1]["weight"] == 2
    slug_row = store.get("calendarslugs", "intro-call", "slug")
    assert slug_row["ws"] == "acme" and slug_row["calendar"] == "intro" and "calendar_json" in slug_row
    assert acme.put_calendar("acme", "intro", ISSUE_EXAMPLE).status == 200


def _bad(**changes):
    body = copy.deepcopy(ISSUE_EXAMPLE)
    for key, value in changes.items():
        body[key] = value
    return body


@pytest.mark.parametrize("body, field, reason_part", [
    (_bad(type="class"), "members[0].meeting_location", "class calendars do not support"),
    (_bad(type="event", members=[{"user": "alice", "meeting_location": "teams"}]), "members[0].meeting_location",
     "custom static link"),
    (_bad(members=[{"user": "bob", "meeting_location": "custom"}]), "members[0].custom_url", "required"),
    (_bad(members=[{"user": "zed", "meeting_location": "none"}]), "members[0].user", "unknown user"),
    (_bad(weekly_hours={"monday": [{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]}),
     "weekly_hours.monday[1]", "overlaps"),
    (_bad(type="personal"), "members", "exactly one member"),
    (_bad(timezone="Nowhere/City"), "timezone", "IANA"),
    (_bad(duration_minutes="30"), "duration_minutes", "integer"),
    (_bad(duration_minutes=7), "duration_minutes", "multiple of 5"),
    (_bad(slug="Has Spaces"), "slug", "lowercase"),
    (_bad(members=[]), "members", "at least 1"),
    (_bad(type="webinar"), "type", "Input should be"),
])
def test_calendar_refusals_are_422_with_field_and_reason_and_store_nothing(acme, store, body, field, reason_part):
    r = acme.put_calendar("acme", "intro", body)
    assert r.status == 422, r.body
    err = r.body["error"]
    fields = [e["field"] for e in err["errors"]]
    assert field in fields, err
    reason = next(e["reason"] for e in err["errors"] if e["field"] == field)
    assert reason_part.lower() in reason.lower(), reason
    assert calendar_tables_empty(store)


def test_calendar_needs_an_existing_workspace(api, store):
    assert api.put_calendar("ghost", "c", calendar_body("ghost-cal", [member("alice")])).status == 404
    assert calendar_tables_empty(store)


def test_huge_bodies_are_413_and_malformed_ones_422(acme, store):
    r = acme.put_calendar("acme", "intro", None, raw=b"{" + b" " * (70 * 1024) + b"}")
    assert r.status == 413 and r.body["error"]["field"] == "body"
    r = acme.put_calendar("acme", "intro", None, raw=b"[1, 2]")
    assert r.status == 422
    r = acme.put_calendar("acme", "intro", None, raw=b"not json")
    assert r.status == 422
    assert calendar_tables_empty(store)


def test_slug_is_unique_across_the_deployment(acme, store):
    acme.put_workspace("other")
    acme.put_user("other", "carol")
    assert acme.put_calendar("acme", "a", calendar_body("shared-slug", [member("alice")])).status == 201
    r = acme.put_calendar("other", "b", calendar_body("shared-slug", [member("carol")]))
    assert r.status == 422 and r.body["error"]["field"] == "slug"
    assert store.get("calendars", "other", "b") is None
    assert store.get("calendarslugs", "shared-slug", "slug")["ws"] == "acme"


def test_changing_a_slug_releases_the_old_one(acme, store):
    acme.put_calendar("acme", "a", calendar_body("first", [member("alice")]))
    assert acme.put_calendar("acme", "a", calendar_body("second", [member("alice")])).status == 200
    assert store.get("calendarslugs", "first", "slug") is None
    assert store.get("calendarslugs", "second", "slug")["calendar"] == "a"
    acme.put_workspace("other")
    acme.put_user("other", "carol")
    assert acme.put_calendar("other", "b", calendar_body("first", [member("carol")])).status == 201


def test_diagnostics_say_per_member_whether_free_busy_is_readable_and_why_not(acme, store, tokens, graph):
    from tests.unit.booking.helpers import ScheduleStandIn

    acme.put_user("acme", "carol")
    acme.put_user("acme", "dave")
    body = calendar_body("team", [member("alice", "teams", "microsoft"), member("bob", "none", "microsoft"),
                                  member("carol", "none", "microsoft"), member("dave")], type="round_robin")
    assert acme.put_calendar("acme", "team", body).status == 201
    connect(store, "acme", "alice")
    connect(store, "acme", "alice", kind="teams")
    connect(store, "acme", "bob")
    tokens.failures["bob"] = ReauthRequired(reason="invalid_grant AADSTS70008")
    # carol never connected a calendar
    ScheduleStandIn().install(graph)
    r = acme.diagnostics("acme", "team")
    assert r.status == 200, r.body
    by_user = {m["user"]: m for m in r.body["members"]}
    assert by_user["alice"]["free_busy"]["readable"] is True
    assert by_user["alice"]["teams_connection"] == "connected"
    assert by_user["bob"]["free_busy"]["readable"] is False
    assert "renewed" in by_user["bob"]["free_busy"]["reason"]
    assert by_user["carol"]["free_busy"]["readable"] is False
    assert "not connected" in by_user["carol"]["free_busy"]["reason"]
    assert by_user["dave"]["free_busy"]["readable"] is True
    assert r.body["ready"] is False
    assert acme.diagnostics("acme", "missing").status == 404


def test_diagnostics_are_not_ready_while_a_teams_member_has_no_teams_connection(acme, store, graph):
    """Issue 21 (5): free/busy readable everywhere, but alice meets on Teams and never connected Teams."""
    body = calendar_body("solo", [member("alice", "teams", "none")])
    assert acme.put_calendar("acme", "solo", body).status == 201
    r = acme.diagnostics("acme", "solo")
    assert r.status == 200, r.body
    alice = r.body["members"][0]
    assert alice["free_busy"]["readable"] is True and alice["teams_connection"] == "missing"
    assert alice["ready"] is False and "Teams connect link" in alice["problems"][0]
    assert r.body["ready"] is False and r.body["problems"] == alice["problems"]
    connect(store, "acme", "alice", kind="teams")
    r = acme.diagnostics("acme", "solo")
    assert r.body["ready"] is True and r.body["problems"] == [] and r.body["members"][0]["ready"] is True


def test_a_calendar_without_weekly_hours_is_refused_with_422_and_nothing_stored(acme, store):
    """Issue 21 (5): it would be valid yet never bookable."""
    r = acme.put_calendar("acme", "closed", calendar_body("closed", [member("alice")], weekly_hours={}))
    assert r.status == 422
    assert r.body["error"]["field"] == "weekly_hours" and "at least one weekly range" in r.body["error"]["message"]
    assert calendar_tables_empty(store)


def test_get_and_diagnostics_take_the_slug_where_the_id_is_expected(acme, store, graph):
    """Issue 21 (7): ``make run`` names calendars by slug; the management API finds them by either."""
    assert acme.put_calendar("acme", "intro", calendar_body("acme-intro", [member("alice")])).status == 201
    assert acme.get_calendar("acme", "acme-intro").body["calendar"] == "intro"
    assert acme.diagnostics("acme", "acme-intro").body["calendar"] == "intro"
    acme.put_workspace("other")
    missing = acme.diagnostics("other", "acme-intro")  # a slug of another workspace is not found here
    assert missing.status == 404 and "id or slug 'acme-intro'" in missing.body["error"]["message"]
