"""Availability at the use-case level: Outlook free/busy through a mocked getSchedule, fail-closed
members, parallel reads, bookings with buffers, and the slots endpoint's validation and CORS."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.graph_calendar import MAX_SCHEDULES_PER_CALL, get_schedule, schedule_request_body
from shared.errors import NotConnected, ReauthRequired, Throttled
from tests.graph_contract_check import check_calls
from tests.unit.booking.helpers import (
    GRAPH,
    ORIGIN,
    ScheduleStandIn,
    calendar_body,
    connect,
    day_slots,
    member,
)

UTC = UTC
# FixedClock: Monday 2026-11-23 08:00 UTC. Berlin is UTC+1: 09:00-17:00 local = 08:00-16:00 UTC.
MONDAY = "2026-11-23"
ALL_MONDAY = [f"2026-11-23T{h:02d}:{m:02d}:00Z" for h in range(8, 16) for m in (0, 30)]


def setup(api, store, users, body, connected=()):
    api.setup("acme", users, {"cal": body})
    for u in connected:
        connect(store, "acme", u)


def test_outlook_busy_tentative_and_oof_block_free_and_working_elsewhere_do_not(api, store, graph):
    setup(api, store, ["alice"], calendar_body("alice-cal", [member("alice", provider="microsoft")]), ["alice"])
    standin = ScheduleStandIn(busy={"alice@contoso.test": [
        ("2026-11-23T09:00:00Z", "2026-11-23T10:00:00Z", "busy"),
        ("2026-11-23T11:00:00Z", "2026-11-23T11:30:00Z", "tentative"),
        ("2026-11-23T12:10:00Z", "2026-11-23T12:20:00Z", "oof"),
        ("2026-11-23T13:00:00Z", "2026-11-23T14:00:00Z", "free"),
        ("2026-11-23T14:00:00Z", "2026-11-23T15:00:00Z", "workingElsewhere"),
    ]})
    standin.install(graph)
    r = api.slots("alice-cal", MONDAY, MONDAY)
    assert r.status == 200, r.body
    blocked = {"2026-11-23T09:00:00Z", "2026-11-23T09:30:00Z", "2026-11-23T11:00:00Z", "2026-11-23T12:00:00Z"}
    assert day_slots(r) == [s for s in ALL_MONDAY if s not in blocked]
    # one getSchedule call, with alice's own token, for her mailbox, held to Microsoft's contract
    assert len(standin.calls) == 1
    assert standin.calls[0]["schedules"] == ["alice@contoso.test"]
    assert standin.tokens_seen == ["Bearer token-alice"]
    assert check_calls(graph.calls, GRAPH) == []


def test_a_member_whose_token_fails_is_busy_round_robin_falls_back_collective_offers_nothing(
        api, store, graph, tokens):
    members = [member("alice", provider="microsoft"), member("bob", provider="microsoft")]
    api.setup("acme", ["alice", "bob"], {
        "rr": calendar_body("rr", members, type="round_robin"),
        "co": calendar_body("co", members, type="collective"),
    })
    connect(store, "acme", "alice")
    connect(store, "acme", "bob")
    tokens.failures["alice"] = ReauthRequired(reason="invalid_grant")
    ScheduleStandIn(busy={"bob@contoso.test": [("2026-11-23T08:00:00Z", "2026-11-23T09:00:00Z", "busy")]}
                    ).install(graph)
    rr = api.slots("rr", MONDAY, MONDAY)
    assert day_slots(rr) == ALL_MONDAY[2:]  # only bob can host, and bob is busy 08:00-09:00
    assert api.slots("co", MONDAY, MONDAY).body["slots"] == []


@pytest.mark.parametrize("failure", [NotConnected("x"), Throttled("slow", retry_after=5), RuntimeError("boom")])
def test_any_failure_reading_free_busy_fails_closed(api, store, graph, tokens, failure):
    setup(api, store, ["alice"], calendar_body("solo", [member("alice", provider="microsoft")]), ["alice"])
    tokens.failures["alice"] = failure
    assert api.slots("solo", MONDAY, MONDAY).body["slots"] == []


@pytest.mark.parametrize("status", ["needs_reauth", "disconnected", None])
def test_a_calendar_connection_that_is_not_connected_fails_closed(api, store, graph, tokens, status):
    setup(api, store, ["alice"], calendar_body("solo", [member("alice", provider="microsoft")]))
    if status:
        connect(store, "acme", "alice", status=status)
    assert api.slots("solo", MONDAY, MONDAY).body["slots"] == []
    assert tokens.calls == []  # no token is even asked for


def test_graph_schedule_error_and_graph_5xx_fail_closed(api, store, graph):
    setup(api, store, ["alice"], calendar_body("solo", [member("alice", provider="microsoft")]), ["alice"])
    ScheduleStandIn(errors={"alice@contoso.test": "mailbox not found"}).install(graph)
    assert api.slots("solo", MONDAY, MONDAY).body["slots"] == []
    graph.replace("POST", f"{GRAPH}/me/calendar/getSchedule", status=503, headers={"Retry-After": "3"}, json={})
    assert api.slots("solo", MONDAY, MONDAY).body["slots"] == []


def test_members_are_read_in_parallel(api, store, graph, tokens):
    users = ["alice", "bob", "carol", "dave"]
    setup(api, store, users, calendar_body("co", [member(u, provider="microsoft") for u in users],
                                           type="collective"), users)
    # each getSchedule call waits until all four are in flight: sequential reads would break the barrier
    standin = ScheduleStandIn(barrier=threading.Barrier(len(users), timeout=5))
    standin.install(graph)
    r = api.slots("co", MONDAY, MONDAY)
    assert day_slots(r) == ALL_MONDAY
    assert sorted(c["schedules"][0] for c in standin.calls) == [f"{u}@contoso.test" for u in users]
    assert sorted(t for t in standin.tokens_seen) == [f"Bearer token-{u}" for u in users]


def test_existing_bookings_block_with_the_calendar_buffers(api, store, graph):
    body = calendar_body("buf", [member("alice")], buffer_before_minutes=15, buffer_after_minutes=30)
    setup(api, store, ["alice"], body)
    assert api.book("buf", "2026-11-23T10:00:00Z").status == 201
    r = api.slots("buf", MONDAY, MONDAY)
    # booking 10:00-10:30; a slot needs [s-15, e+30) clear of it and must not sit in its buffers
    assert "2026-11-23T09:30:00Z" not in day_slots(r)  # ends 10:00, +30 after-buffer overlaps
    assert "2026-11-23T10:30:00Z" not in day_slots(r)  # starts inside the booking's 30-minute after-buffer
    assert "2026-11-23T10:00:00Z" not in day_slots(r)
    assert "2026-11-23T09:00:00Z" in day_slots(r) and "2026-11-23T11:00:00Z" in day_slots(r)


def test_bookings_on_another_calendar_of_the_same_host_block(api, store):
    api.setup("acme", ["alice", "bob"], {
        "p": calendar_body("alice-p", [member("alice")]),
        "c": calendar_body("team-c", [member("alice"), member("bob")], type="collective"),
    })
    assert api.book("alice-p", "2026-11-23T10:00:00Z").status == 201
    assert "2026-11-23T10:00:00Z" not in day_slots(api.slots("team-c", MONDAY, MONDAY))


def test_minimum_notice_and_dst_in_the_calendar_timezone(api, store, clock):
    clock.current = datetime(2027, 3, 26, 8, 0, tzinfo=UTC)  # Friday before the spring-forward Sunday
    week = {d: [{"start": "09:00", "end": "10:00"}] for d in ("friday", "monday")}
    setup(api, store, ["alice"], calendar_body("dst", [member("alice")], weekly_hours=week,
                                               minimum_notice_minutes=30))
    r = api.slots("dst", "2027-03-26", "2027-03-29")
    # Friday: CET (UTC+1), 09:00 local = 08:00Z, notice removes 08:00Z; Monday: CEST (UTC+2)
    assert day_slots(r) == ["2027-03-26T08:30:00Z", "2027-03-29T07:00:00Z", "2027-03-29T07:30:00Z"]


def test_requested_timezone_decides_the_day_boundaries(api, store):
    setup(api, store, ["alice"], calendar_body("tz", [member("alice")]))
    tokyo = api.slots("tz", MONDAY, MONDAY, tz="Asia/Tokyo")
    # Monday in Tokyo ends at 2026-11-23T15:00Z
    assert tokyo.body["timezone"] == "Asia/Tokyo"
    assert day_slots(tokyo) == [s for s in ALL_MONDAY if s < "2026-11-23T15:00:00Z"]


@pytest.mark.parametrize("params, field", [
    ({"start": "2026-11-23", "end": "2027-01-24"}, "end"),          # 63 days
    ({"start": "2026-11-23", "end": "2026-11-22"}, "end"),
    ({"start": "23.11.2026", "end": "2026-11-24"}, "start"),
    ({"start": "2026-11-23"}, "end"),
    ({"start": "2026-11-23", "end": "2026-11-24", "timezone": "Not/AZone"}, "timezone"),
])
def test_bad_slot_queries_are_422(api, store, params, field):
    setup(api, store, ["alice"], calendar_body("q", [member("alice")]))
    from functions import public_booking
    from tests.unit.booking.helpers import request

    r = request(public_booking.public_slots, "GET", {"slug": "q"}, params=params)
    assert r.status == 422 and r.body["error"]["field"] == field, r.body


def test_62_days_is_allowed_and_unknown_slug_is_404(api, store):
    setup(api, store, ["alice"], calendar_body("q", [member("alice")]))
    assert api.slots("q", "2026-11-23", "2027-01-23").status == 200
    assert api.slots("nope", MONDAY, MONDAY).status == 404
    assert api.slots("../x", MONDAY, MONDAY).status == 404


def test_public_fields_only_and_cors(api, store):
    setup(api, store, ["alice"], calendar_body("pub", [member("alice", "custom", custom_url="https://x.test/r")]))
    r = api.slots("pub", MONDAY, MONDAY, Origin=ORIGIN)
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert set(r.body["calendar"]) == {"slug", "name", "type", "timezone", "duration_minutes",
                                       "slot_interval_minutes", "minimum_notice_minutes", "max_days_ahead", "hosts"}
    assert "email" not in str(r.body["calendar"]) and "x.test" not in str(r.body)
    other = api.slots("pub", MONDAY, MONDAY, Origin="https://evil.example")
    assert "Access-Control-Allow-Origin" not in other.headers
    from functions import public_booking
    from tests.unit.booking.helpers import request

    pre = request(public_booking.public_create_booking, "OPTIONS", {"slug": "pub"},
                  headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert pre.status == 204
    assert pre.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Idempotency-Key" in pre.headers["Access-Control-Allow-Headers"]


# ------------------------------------------------------------------ the getSchedule adapter
class RecordingGraph:
    def __init__(self, busy_status: str = "busy") -> None:
        self.bodies: list[dict] = []
        self.status = busy_status
        self.lock = threading.Lock()

    def request(self, method, path, token, *, json_body=None, headers=None, **_):
        assert (method, path) == ("POST", "/me/calendar/getSchedule")
        assert headers == {"Prefer": 'outlook.timezone="UTC"'}
        with self.lock:
            self.bodies.append(json_body)
        start = json_body["startTime"]["dateTime"]
        end = (datetime.fromisoformat(start) + timedelta(hours=1)).isoformat()
        return 200, {"value": [
            {"scheduleId": s, "scheduleItems": [{"status": self.status, "start": {"dateTime": start, "timeZone": "UTC"},
                                                 "end": {"dateTime": end, "timeZone": "UTC"}}]}
            for s in json_body["schedules"]]}


def test_get_schedule_splits_by_20_schedules_and_61_days_and_joins_answers():
    graph = RecordingGraph()
    mailboxes = [f"m{i}@contoso.test" for i in range(45)]
    start = datetime(2026, 11, 23, tzinfo=UTC)
    end = start + timedelta(days=100)
    result = get_schedule(graph, "tok", mailboxes, start, end)
    assert len(graph.bodies) == 3 * 2
    for body in graph.bodies:
        assert len(body["schedules"]) <= MAX_SCHEDULES_PER_CALL
        lo = datetime.fromisoformat(body["startTime"]["dateTime"])
        hi = datetime.fromisoformat(body["endTime"]["dateTime"])
        assert timedelta(0) < hi - lo < timedelta(days=62)
        assert set(body) == {"schedules", "startTime", "endTime", "availabilityViewInterval"}
    assert set(result) == {m.lower() for m in mailboxes}
    assert all(len(r.blocks) == 2 and r.error is None for r in result.values())


def test_get_schedule_body_is_valid_against_the_graph_contract():
    from devhost.graph_contract import validate_action

    body = schedule_request_body(["a@contoso.test"], datetime(2026, 11, 23, tzinfo=UTC),
                                 datetime(2026, 11, 24, tzinfo=UTC))
    assert validate_action("getSchedule", body, binding="calendar") == []


def test_get_schedule_reads_availability_view_when_items_are_absent():
    class ViewGraph:
        def request(self, *a, **k):
            return 200, {"value": [{"scheduleId": "a@contoso.test", "availabilityView": "0200"}]}

    start = datetime(2026, 11, 23, 9, tzinfo=UTC)
    result = get_schedule(ViewGraph(), "t", ["a@contoso.test"], start, start + timedelta(hours=1))
    blocks = result["a@contoso.test"].blocks
    busy = [(b.start, b.end) for b in blocks if b.blocks]
    assert busy == [(start + timedelta(minutes=15), start + timedelta(minutes=30))]


def test_a_mailbox_graph_leaves_out_is_unreadable():
    class Silent:
        def request(self, *a, **k):
            return 200, {"value": []}

    start = datetime(2026, 11, 23, 9, tzinfo=UTC)
    result = get_schedule(Silent(), "t", ["a@contoso.test", "b@contoso.test"], start, start + timedelta(hours=1))
    assert all(r.error for r in result.values())


def test_the_connection_row_is_read_once_and_handed_to_the_token_provider(store):
    """Availability reads the member's connection row (status, mailbox) and gives that row to the token
    provider, which then does not read it again; a retry after a refused token leaves it to read anew."""
    from shared.adapters.graph_calendar import ScheduleResult
    from shared.adapters.graph_client import GraphUnauthorized
    from shared.domain.availability import Interval
    from shared.domain.calendar_config import MemberConfig
    from shared.domain.model import CalendarProvider
    from shared.usecases.availability import AvailabilityDeps, member_free_busy
    from tests.fakes import FixedClock

    connect(store, "acme", "alice")
    seen = []

    def tokens(ws, user, kind, *, force_refresh=False, connection=None):
        seen.append((force_refresh, connection))
        return "token-2" if force_refresh else "token-1"

    def fetch(token, mailboxes, start, end):
        if token == "token-1":
            raise GraphUnauthorized("refused")
        return {mailboxes[0].lower(): ScheduleResult(mailboxes[0])}

    window = Interval(datetime(2026, 11, 23, 8, tzinfo=UTC), datetime(2026, 11, 23, 16, tzinfo=UTC))
    deps = AvailabilityDeps(store=store, clock=FixedClock(), tokens=tokens, fetch_schedule=fetch)
    result = member_free_busy(deps, "acme", MemberConfig("alice", calendar_provider=CalendarProvider.MICROSOFT),
                              window)
    assert result.readable, result.reason
    assert [f for f, _ in seen] == [False, True]
    assert seen[0][1]["RowKey"] == "microsoft_calendar" and seen[0][1]["status"] == "connected"
    assert seen[1][1] is None


# ---------------------------------------------------------------- rule 23: the mailbox, not the sign-in name
def test_free_busy_asks_for_the_stored_mailbox_not_the_sign_in_name(api, store, graph):
    """Pages "calendar: getSchedule" (schedules are SMTP addresses) and "ID token claims reference"
    (``preferred_username`` is a display hint that need not be the mailbox)."""
    setup(api, store, ["alice"], calendar_body("solo", [member("alice", provider="microsoft")]))
    connect(store, "acme", "alice", upn="a.archer@contoso.onmicrosoft.test", mailbox="alice@contoso.test")
    standin = ScheduleStandIn()
    standin.install(graph)
    assert day_slots(api.slots("solo", MONDAY, MONDAY)) == ALL_MONDAY
    assert [c["schedules"] for c in standin.calls] == [["alice@contoso.test"]]


def test_a_connection_made_before_the_mailbox_was_stored_reads_it_once_from_me(api, store, graph):
    """``GET /me?$select=mail,userPrincipalName``: ``mail`` first (rule 23); stored on the connection."""
    setup(api, store, ["alice"], calendar_body("solo", [member("alice", provider="microsoft")]))
    connect(store, "acme", "alice", upn="a.archer@contoso.onmicrosoft.test", mailbox="")
    me = graph.get(f"{GRAPH}/me", json={"mail": "alice@contoso.test",
                                         "userPrincipalName": "a.archer@contoso.onmicrosoft.test"})
    standin = ScheduleStandIn()
    standin.install(graph)
    assert day_slots(api.slots("solo", MONDAY, MONDAY)) == ALL_MONDAY
    assert day_slots(api.slots("solo", MONDAY, MONDAY)) == ALL_MONDAY
    assert [c["schedules"] for c in standin.calls] == [["alice@contoso.test"]]  # then the free/busy cache
    assert me.call_count == 1 and "%24select=mail%2CuserPrincipalName" in graph.calls[0].request.url
    assert store.get("connections", "acme|alice", "microsoft_calendar")["mailbox"] == "alice@contoso.test"


def test_without_mail_the_user_principal_name_from_graph_is_the_address(api, store, graph):
    setup(api, store, ["alice"], calendar_body("solo", [member("alice", provider="microsoft")]))
    connect(store, "acme", "alice", upn="someone@else.test", mailbox="")
    graph.get(f"{GRAPH}/me", json={"mail": None, "userPrincipalName": "alice@contoso.test"})
    standin = ScheduleStandIn()
    standin.install(graph)
    api.slots("solo", MONDAY, MONDAY)
    assert [c["schedules"] for c in standin.calls] == [["alice@contoso.test"]]
