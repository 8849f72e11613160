"""Issue 17 / rule 29: rate limits per client address, per invitee address, per calendar, and per booking.

The limits run through the real handlers over the in-memory store (the counters are the same
``TableRateLimiter`` code that runs on Azurite in tests/integration/booking/test_rate_limits_on_azurite.py).
"""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.adapters.rate_limit_store import TableRateLimiter
from shared.domain.rate_limits import Limit, client_address, parse_limit
from shared.errors import ConfigurationError, RateLimited
from tests.fakes import FixedClock, InMemoryEntityStore
from tests.unit.booking.helpers import ORIGIN, Api, calendar_body, hours, member, request

SLOTS = hours("2026-11-23T10:00:00Z", 12)   # Monday 11:00-17:00 in Berlin; the clock says 08:00Z


def bookings(store):
    return [e for e in store.all("schedule") if e["RowKey"].startswith("booking|")]


def make_api(store, queue, clock, **settings):
    api = Api(store, queue, clock, settings=settings)
    api.setup("acme", ["alice"], {"p": calendar_body("alice", [member("alice")], max_days_ahead=60)})
    return api


def book(start, *, client="203.0.113.7:50123", email="ivy@example.test", slug="alice"):
    from functions import public_booking

    body = {"start": start, "name": "Ivy", "email": email, "timezone": "Europe/Paris"}
    headers = {"Origin": ORIGIN}
    if client:
        headers["X-Forwarded-For"] = client
    return request(public_booking.public_create_booking, "POST", {"slug": slug}, body=body, headers=headers)


# ------------------------------------------------------------------ the rules
@pytest.mark.parametrize("text,expected", [
    ("10/10m", (10, 600)), ("120/1m", (120, 60)), ("3/1h", (3, 3600)), ("60/h", (60, 3600)), ("5/30s", (5, 30)),
    ("2/1d", (2, 86400)), (" 7 / 2h ", (7, 7200)), ("0", None), ("", None), (None, None), ("0/1h", None),
])
def test_limits_are_written_count_per_period(text, expected):
    limit = parse_limit("X", text)
    assert (None if limit is None else (limit.count, limit.period_seconds)) == expected


@pytest.mark.parametrize("text", ["ten/1m", "10", "10/0m", "10/1w", "-1/1m", "10/1.5h"])
def test_malformed_limits_are_refused(text):
    with pytest.raises(ValueError):
        parse_limit("X", text)


def test_a_malformed_limit_setting_is_a_configuration_error(store, queue, clock):
    api = Api(store, queue, clock, settings={"RATE_LIMIT_BOOKINGS_PER_CLIENT": "lots"})
    with pytest.raises(ConfigurationError):
        _ = api.container.public_limits


def test_fixed_windows_and_retry_after():
    limit = Limit("X", 10, 600)
    assert limit.window(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))[1] == 600
    index, left = limit.window(datetime(2026, 11, 23, 8, 9, 30, tzinfo=UTC))
    assert left == 30 and index == limit.window(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))[0]


@pytest.mark.parametrize("headers,expected", [
    ({"X-Forwarded-For": "203.0.113.7"}, "203.0.113.7"),
    ({"X-Forwarded-For": "203.0.113.7:50123"}, "203.0.113.7"),
    ({"x-forwarded-for": "1.1.1.1, 9.9.9.9, 203.0.113.7:443"}, "203.0.113.7"),  # only the front end's entry
    ({"X-Forwarded-For": "[2001:db8::1]:443"}, "2001:db8::1"),
    ({"X-Forwarded-For": "2001:db8::1"}, "2001:db8::1"),
    ({"X-Client-IP": "198.51.100.4"}, "198.51.100.4"),
    ({"X-Forwarded-For": "198.51.100.9", "X-Client-IP": "1.2.3.4"}, "198.51.100.9"),
    ({"X-Forwarded-For": "1.2.3.4, not-an-address"}, None),
    ({"X-Forwarded-For": "é"}, None),
    ({}, None),
])
def test_the_client_address_is_the_one_the_front_end_appended(headers, expected):
    assert client_address(headers) == expected


def test_behind_the_optional_front_door_the_trusted_header_is_read():
    headers = {"X-Forwarded-For": "203.0.113.7, 147.243.1.1:443", "X-Azure-ClientIP": "203.0.113.7"}
    assert client_address(headers, "X-Azure-ClientIP") == "203.0.113.7"
    assert client_address({"X-Forwarded-For": "147.243.1.1"}, "X-Azure-ClientIP") is None


# ------------------------------------------------------------------ per client
def test_the_11th_booking_post_of_one_client_in_10_minutes_is_429_with_retry_after(store, queue, clock):
    api = make_api(store, queue, clock, RATE_LIMIT_BOOKINGS_PER_CLIENT="10/10m")
    for i in range(10):
        assert book(SLOTS[i], email=f"i{i}@example.test").status == 201
    sent = len(queue.sent)
    clock.advance(minutes=4)
    r = book(SLOTS[10], email="i10@example.test")
    assert r.status == 429, r.body
    assert r.headers["Retry-After"] == str(6 * 60)
    assert r.body["error"]["code"] == "rate_limited"
    assert r.body["error"]["limit"] == "RATE_LIMIT_BOOKINGS_PER_CLIENT"
    assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert len(bookings(store)) == 10 and len(queue.sent) == sent
    # another client is limited separately; the first one again after its window
    assert book(SLOTS[10], client="198.51.100.4", email="j@example.test").status == 201
    clock.advance(minutes=6)
    assert book(SLOTS[11], email="k@example.test").status == 201
    assert api is not None


def test_a_client_cannot_reset_its_count_by_writing_its_own_forwarded_entries(store, queue, clock):
    make_api(store, queue, clock, RATE_LIMIT_BOOKINGS_PER_CLIENT="2/10m")
    assert book(SLOTS[0], client="10.0.0.1, 203.0.113.7").status == 201
    assert book(SLOTS[1], client="10.0.0.2, 203.0.113.7:1").status == 201
    assert book(SLOTS[2], client="10.0.0.3, 203.0.113.7:2").status == 429


def test_slot_gets_per_client_are_limited(store, queue, clock):
    from functions import public_booking

    make_api(store, queue, clock, RATE_LIMIT_SLOTS_PER_CLIENT="3/1m")

    def slots(client):
        return request(public_booking.public_slots, "GET", {"slug": "alice"},
                       params={"start": "2026-11-23", "end": "2026-11-24"}, headers={"X-Client-IP": client})

    assert [slots("198.51.100.1").status for _ in range(4)] == [200, 200, 200, 429]
    assert slots("198.51.100.2").status == 200
    clock.advance(minutes=1)
    assert slots("198.51.100.1").status == 200


# ------------------------------------------------------------------ per invitee and per calendar
def test_a_4th_confirmation_to_one_address_in_an_hour_is_refused_and_nothing_is_sent(store, queue, clock):
    make_api(store, queue, clock, RATE_LIMIT_CONFIRMATIONS_PER_INVITEE="3/1h")
    for i in range(3):
        assert book(SLOTS[i], client=f"198.51.100.{i}", email="Ivy@Example.test").status == 201
    sent = len(queue.sent)
    r = book(SLOTS[3], client="198.51.100.9", email="ivy@example.test")
    assert r.status == 429 and r.body["error"]["limit"] == "RATE_LIMIT_CONFIRMATIONS_PER_INVITEE"
    assert len(bookings(store)) == 3 and len(queue.sent) == sent
    assert store.all("idempotency") == []
    assert book(SLOTS[3], email="other@example.test").status == 201


def test_an_idempotent_request_over_the_invitee_limit_leaves_no_claim(store, queue, clock):
    from functions import public_booking

    make_api(store, queue, clock, RATE_LIMIT_CONFIRMATIONS_PER_INVITEE="1/1h")
    assert book(SLOTS[0]).status == 201
    body = {"start": SLOTS[1], "name": "Ivy", "email": "ivy@example.test", "timezone": "UTC"}
    r = request(public_booking.public_create_booking, "POST", {"slug": "alice"}, body=body,
                headers={"Idempotency-Key": "k-1"})
    assert r.status == 429 and store.all("idempotency") == []


def test_bookings_per_calendar_are_limited(store, queue, clock):
    make_api(store, queue, clock, RATE_LIMIT_BOOKINGS_PER_CALENDAR="2/1h")
    assert book(SLOTS[0], email="a@example.test").status == 201
    assert book(SLOTS[1], email="b@example.test").status == 201
    r = book(SLOTS[2], email="c@example.test")
    assert r.status == 429 and r.body["error"]["limit"] == "RATE_LIMIT_BOOKINGS_PER_CALENDAR"
    assert int(r.headers["Retry-After"]) == 3600


ALL_DAY = {d: [{"start": "00:00", "end": "24:00"}]
           for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
SIXTY_ONE = hours("2026-11-23T10:00:00Z", 61)   # the clock stands still: all 61 fall in one hour's window


def _calendar_taking(store, queue, clock, **over):
    """The deployment default (RATE_LIMIT_BOOKINGS_PER_CALENDAR unset: 60 per hour), every other limit off."""
    api = Api(store, queue, clock, settings={"RATE_LIMIT_BOOKINGS_PER_CALENDAR": ""})
    api.setup("acme", ["alice"], {"p": calendar_body("alice", [member("alice")], weekly_hours=ALL_DAY, **over)})
    return api


def _book_61():
    answers = [book(start, client=None, email=f"i{n}@example.test") for n, start in enumerate(SIXTY_ONE)]
    assert [r.status for r in answers[:60]] == [201] * 60, next(r.body for r in answers if r.status != 201)
    return answers[60]


def test_by_default_the_61st_booking_of_a_calendar_in_an_hour_is_429_with_retry_after(store, queue, clock):
    _calendar_taking(store, queue, clock)
    r = _book_61()
    assert r.status == 429 and r.body["error"]["limit"] == "RATE_LIMIT_BOOKINGS_PER_CALENDAR"
    assert int(r.headers["Retry-After"]) == 3600 and len(bookings(store)) == 60


def test_a_host_who_raised_the_calendars_limit_gets_the_61st_booking(store, queue, clock):
    api = _calendar_taking(store, queue, clock, bookings_per_hour=100)
    assert api.get_calendar("acme", "p").body["bookings_per_hour"] == 100
    assert _book_61().status == 201 and len(bookings(store)) == 61


def test_a_calendar_may_also_lower_its_limit_and_null_means_the_default(store, queue, clock):
    api = _calendar_taking(store, queue, clock, bookings_per_hour=1)
    assert book(SIXTY_ONE[0], client=None, email="a@example.test").status == 201
    assert book(SIXTY_ONE[1], client=None, email="b@example.test").status == 429
    body = calendar_body("alice", [member("alice")], weekly_hours=ALL_DAY, bookings_per_hour=None)
    assert api.put_calendar("acme", "p", body).status == 200
    assert api.get_calendar("acme", "p").body["bookings_per_hour"] is None
    assert book(SIXTY_ONE[1], client=None, email="b@example.test").status == 201   # 2 of the default 60


@pytest.mark.parametrize("value", [0, -5, 10_001, "lots", 2.5, True])
def test_a_bad_bookings_per_hour_is_422_naming_the_field_and_changes_nothing(store, queue, clock, value):
    api = _calendar_taking(store, queue, clock, bookings_per_hour=100)
    before = api.get_calendar("acme", "p").body
    r = api.put_calendar("acme", "p", calendar_body("alice", [member("alice")], weekly_hours=ALL_DAY,
                                                    bookings_per_hour=value))
    assert r.status == 422, r.body
    fields = [r.body["error"].get("field")] + [e["field"] for e in r.body["error"].get("errors", [])]
    assert any(f and f.endswith("bookings_per_hour") for f in fields), r.body
    assert api.get_calendar("acme", "p").body == before


def test_the_production_defaults_apply_without_settings(store, queue, clock):
    env = {"RATE_LIMIT_BOOKINGS_PER_CLIENT": "", "RATE_LIMIT_SLOTS_PER_CLIENT": "",
           "RATE_LIMIT_CONFIRMATIONS_PER_INVITEE": "", "RATE_LIMIT_BOOKINGS_PER_CALENDAR": "",
           "MANAGE_MAX_RESCHEDULES": ""}
    api = make_api(store, queue, clock, **env)
    limits = api.container.public_limits
    assert (limits.bookings_per_client.count, limits.bookings_per_client.period_seconds) == (10, 600)
    assert (limits.slots_per_client.count, limits.slots_per_client.period_seconds) == (120, 60)
    assert (limits.confirmations_per_invitee.count, limits.confirmations_per_invitee.period_seconds) == (3, 3600)
    assert (limits.bookings_per_calendar.count, limits.bookings_per_calendar.period_seconds) == (60, 3600)
    assert api.container.booking_deps().max_reschedules == 3


# ------------------------------------------------------------------ per booking (manage token)
def test_the_4th_reschedule_of_one_booking_is_refused(store, queue, clock):
    api = make_api(store, queue, clock, MANAGE_MAX_RESCHEDULES="3")
    made = book(SLOTS[0]).body
    token = made["manage_token"]
    for i in range(1, 4):
        r = api.reschedule(made["id"], token, SLOTS[i])
        assert r.status == 200, r.body
        token = r.body["manage_token"]
    sent = len(queue.sent)
    r = api.reschedule(made["id"], token, SLOTS[5])
    assert r.status == 409 and "3 times" in r.body["error"]["message"]
    assert len(queue.sent) == sent
    assert api.get(made["id"], token).body["start"] == SLOTS[3]
    assert api.cancel(made["id"], token).status == 200


def test_a_cancelled_or_started_bookings_token_can_no_longer_change_it(store, queue, clock):
    api = make_api(store, queue, clock)
    made = book(SLOTS[0]).body
    other = book(SLOTS[2], email="o@example.test").body
    assert api.cancel(made["id"], made["manage_token"]).status == 200
    assert api.reschedule(made["id"], made["manage_token"], SLOTS[1]).status == 409
    assert api.get(made["id"], made["manage_token"]).body["status"] == "cancelled"  # read-only view
    clock.advance(hours=3, minutes=1)   # SLOTS[2] started
    assert api.reschedule(other["id"], other["manage_token"], SLOTS[11]).status == 409
    assert api.cancel(other["id"], other["manage_token"]).status == 409
    assert api.get(other["id"], other["manage_token"]).body["status"] == "confirmed"


# ------------------------------------------------------------------ the counters
def test_two_limiters_on_one_store_share_their_counts():
    """Two instances (each with its own cache) over one table count together."""
    store, clock = InMemoryEntityStore(), FixedClock()
    first, second = TableRateLimiter(store, clock), TableRateLimiter(store, clock)
    limit = Limit("RATE_LIMIT_BOOKINGS_PER_CLIENT", 3, 600)
    first.hit(limit, "203.0.113.7")
    second.hit(limit, "203.0.113.7")
    first.hit(limit, "203.0.113.7")
    with pytest.raises(RateLimited):
        second.hit(limit, "203.0.113.7")
    with pytest.raises(RateLimited):
        first.hit(limit, "203.0.113.7")
    rows = store.all("ratelimits")
    assert len(rows) == 1 and rows[0]["count"] == 3
    assert "203.0.113.7" not in repr(rows)   # keys are hashed


def test_a_single_instance_writes_once_per_hit_and_refuses_without_storage():
    store, clock = InMemoryEntityStore(), FixedClock()
    limiter = TableRateLimiter(store, clock)
    limit = Limit("X", 2, 60)
    limiter.hit(limit, "k")
    before = store.requests
    limiter.hit(limit, "k")
    assert store.requests - before == 1
    before = store.requests
    with pytest.raises(RateLimited):
        limiter.hit(limit, "k")
    assert store.requests == before


# ------------------------------------------------------------------ the calendar's counter in the booking's transaction
def _calendar_counter(store, pk="acme|alice", rk="limit|3600|p"):
    return store.get("schedule", pk, rk)


def test_a_calendars_count_rides_in_the_bookings_own_transaction(store, queue, clock):
    """Issue 15 (11) / issue 17: a personal calendar's counter is a row of the host's partition, written in
    the booking's transaction; a booking refused (409) is not counted, and nothing else is written."""
    make_api(store, queue, clock, RATE_LIMIT_BOOKINGS_PER_CALENDAR="3/1h")
    assert book(SLOTS[0], client=None, email="a@example.test").status == 201  # reads the counter once
    before = store.requests
    assert book(SLOTS[1], client=None, email="b@example.test").status == 201
    assert store.requests - before == 1  # the transaction (the calendar is this instance's copy of a second ago)
    assert book(SLOTS[1], client=None, email="c@example.test").status == 409
    assert _calendar_counter(store)["count"] == 2 and store.all("ratelimits") == []
    assert book(SLOTS[2], client=None, email="d@example.test").status == 201
    r = book(SLOTS[3], client=None, email="e@example.test")
    assert r.status == 429 and r.body["error"]["limit"] == "RATE_LIMIT_BOOKINGS_PER_CALENDAR"
    assert len(bookings(store)) == 3 and _calendar_counter(store)["count"] == 3


def test_two_instances_count_a_calendar_together_through_the_transactions_etag(store, queue, clock):
    """Each instance caches the counter's ETag; a transaction carrying a stale one fails as a whole (nothing
    stored), then the same row is counted on its own (read again, ETag-guarded) and the booking committed
    without it: the limit holds across instances."""
    from shared.bootstrap import install

    first = make_api(store, queue, clock, RATE_LIMIT_BOOKINGS_PER_CALENDAR="3/1h")
    second = Api(store, queue, clock, settings={"RATE_LIMIT_BOOKINGS_PER_CALENDAR": "3/1h"})
    answers = []
    for n, api in enumerate([first, second, first, second, first]):
        install(api.container)
        answers.append(book(SLOTS[n], client=None, email=f"i{n}@example.test").status)
    assert answers == [201, 201, 201, 429, 429]
    assert len(bookings(store)) == 3 and _calendar_counter(store)["count"] == 3
    assert store.all("ratelimits") == []  # one counter: the row in alice's partition
    clock.advance(hours=1)  # the next window starts over, for both
    install(second.container)
    assert book(SLOTS[5], client=None, email="j@example.test").status == 201


def test_a_round_robin_calendar_counts_in_its_own_counter_row(store, queue, clock):
    """Its bookings go to several hosts' partitions: the calendar's counter is a conditional write of its own."""
    api = Api(store, queue, clock, settings={"RATE_LIMIT_BOOKINGS_PER_CALENDAR": "2/1h"})
    api.setup("acme", ["alice", "bob"], {"rr": calendar_body("rr", [member("alice"), member("bob")],
                                                             type="round_robin")})
    assert [book(s, client=None, email=f"{n}@example.test", slug="rr").status for n, s in enumerate(SLOTS[:3])] == \
        [201, 201, 429]
    assert [r["count"] for r in store.all("ratelimits")] == [2]
    assert not [e for e in store.all("schedule") if e["RowKey"].startswith("limit|")]


def test_a_collective_calendar_counts_in_its_first_members_partition(store, queue, clock):
    api = Api(store, queue, clock, settings={"RATE_LIMIT_BOOKINGS_PER_CALENDAR": "1/1h"})
    api.setup("acme", ["alice", "bob"], {"c": calendar_body("c", [member("alice"), member("bob")],
                                                            type="collective")})
    assert book(SLOTS[0], client=None, slug="c").status == 201
    r = book(SLOTS[1], client=None, email="other@example.test", slug="c")
    assert r.status == 429 and r.body["error"]["limit"] == "RATE_LIMIT_BOOKINGS_PER_CALENDAR"
    assert _calendar_counter(store, "acme|alice", "limit|3600|c")["count"] == 1
    assert [e for e in store.all("schedule") if e["RowKey"].startswith("lock|")] and len(bookings(store)) == 1
