"""Booking intake, status, cancel and reschedule through the handlers, on the in-memory fakes."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.repositories.bookings import booking_from_entity, lock_entity
from shared.usecases.booking.locks import lock_is_stale
from tests.unit.booking.helpers import ScheduleStandIn, calendar_body, connect, member, nothing_stored

UTC = UTC
SLOT = "2026-11-23T10:00:00Z"   # Monday 11:00 in Berlin; the clock says 08:00Z
SLOT_END = "2026-11-23T10:30:00Z"


def schedule_rows(store, prefix=""):
    return sorted((e["PartitionKey"], e["RowKey"]) for e in store.all("schedule") if e["RowKey"].startswith(prefix))


def bookings(store):
    return [e for e in store.all("schedule") if e["RowKey"].startswith("booking|")]


def locks(store, pk=None):
    return sorted(e["RowKey"] for e in store.all("schedule")
                  if e["RowKey"].startswith("lock|") and (pk is None or e["PartitionKey"] == pk))


def first_slots(api, slug, n):
    slots = [s["start"] for s in api.slots(slug, "2026-11-23", "2026-11-30").body["slots"]]
    assert len(slots) >= n
    return slots[:n]


# ------------------------------------------------------------------ intake
def test_a_booking_is_confirmed_with_its_locks_in_one_partition_and_its_messages(personal, store, queue):
    before = store.requests
    r = personal.book("alice", SLOT, notes="hello")
    assert r.status == 201, r.body
    body = r.body
    assert set(body) >= {"id", "status", "start", "end", "hosts", "link_status", "manage_token"}
    assert body["status"] == "confirmed" and body["start"] == SLOT and body["end"] == SLOT_END
    assert body["link_status"] == "static" and body["meeting_url"] == "https://meet.example/alice"
    assert body["hosts"] == [{"user": "alice", "name": "Alice"}]
    assert len(body["id"]) == 32 and int(body["id"], 16) >= 0
    # issue 15 (11), intake at the floor: one slug read + one transaction (+ one queue put, below)
    assert store.requests - before == 2
    assert locks(store, "acme|alice") == [f"lock|20261123T10{m:02d}Z" for m in range(0, 30, 5)]
    row = store.get("schedule", "acme|alice", f"booking|{body['id']}")
    for field in ("id", "workspace", "calendar", "calendar_slug", "calendar_type", "calendar_timezone", "host",
                  "hosts_json", "invitee_name", "invitee_email", "invitee_timezone", "notes", "start_utc", "end_utc",
                  "status", "location", "custom_url", "link_state", "meeting_url", "revision", "created_at",
                  "updated_at"):
        assert field in row, field
    assert row["revision"] == 1 and row["location"] == "custom" and row["start_utc"] == SLOT
    assert queue.on("meetings") == [{"op": "create", "workspace": "acme", "host": "alice",
                                     "booking_id": body["id"], "revision": 1}]
    assert len(queue.sent) == 1  # its one message: the worker puts the confirmation and the event
    personal.work_meetings()
    assert queue.on("communications") == [{"kind": "confirmation", "workspace": "acme", "host": "alice",
                                           "booking_id": body["id"], "revision": 1}]
    assert [m["type"] for m in queue.on("webhookevents")] == ["booking.created"]


def test_teams_with_a_connected_host_is_pending_and_only_the_meeting_worker_is_told(api, store, queue):
    api.setup("acme", ["alice"], {"p": calendar_body("t", [member("alice", "teams")])})
    connect(store, "acme", "alice", kind="teams")
    r = api.book("t", SLOT)
    assert r.body["link_status"] == "pending" and r.body["meeting_url"] is None
    assert [m["op"] for m in queue.on("meetings")] == ["create"]
    assert queue.on("communications") == []
    assert store.all("backfillindex") == []


@pytest.mark.parametrize("status", [None, "needs_reauth", "disconnected"])
def test_teams_without_a_connected_host_is_awaiting_connection_with_a_backfill_row(api, store, queue, status):
    """Issue 15 (11): intake does not read the connection (the link state is the reconciler's): it stores
    ``pending``; the worker's first look makes it ``awaiting_connection`` with the backfill row, the
    confirmation and the host's notice (rule 3)."""
    api.setup("acme", ["alice"], {"p": calendar_body("t", [member("alice", "teams")])})
    if status:
        connect(store, "acme", "alice", kind="teams", status=status)
    before = store.requests
    r = api.book("t", SLOT)
    assert r.status == 201 and r.body["link_status"] == "pending"
    assert store.requests - before == 2 and store.all("backfillindex") == []
    api.work_meetings()
    assert api.get(r.body["id"], r.body["manage_token"]).body["link_status"] == "awaiting_connection"
    rows = store.all("backfillindex")
    assert len(rows) == 1
    assert rows[0]["PartitionKey"] == "acme|alice" and rows[0]["RowKey"] == f"{SLOT}|{r.body['id']}"
    assert {k: rows[0][k] for k in ("booking_id", "calendar", "start_utc", "location")} == {
        "booking_id": r.body["id"], "calendar": "p", "start_utc": SLOT, "location": "teams"}
    assert [m["kind"] for m in queue.on("communications")] == ["confirmation", "host_notice"]
    got = api.get(r.body["id"], r.body["manage_token"]).body
    assert "Teams" in got["link_reason"] and "connect" in got["link_reason"].lower()


def test_no_location_is_not_applicable(api, store, queue):
    api.setup("acme", ["alice"], {"p": calendar_body("n", [member("alice")])})
    assert api.book("n", SLOT).body["link_status"] == "not_applicable"


def test_the_invitees_clock_is_stored_with_the_booking(personal, store):
    """Issue 21 (9): the page sends its locale's clock; the emails use it."""
    body = personal.book("alice", SLOT, time_format="12h").body
    assert store.get("schedule", "acme|alice", f"booking|{body['id']}")["invitee_time_format"] == "12h"
    plain = personal.book("alice", "2026-11-23T11:00:00Z").body
    assert "invitee_time_format" not in store.get("schedule", "acme|alice", f"booking|{plain['id']}")


def test_the_same_slot_twice_is_409_and_one_booking_is_stored(personal, store):
    assert personal.book("alice", SLOT).status == 201
    again = personal.book("alice", SLOT, email="another.invitee@example.test")
    assert again.status == 409 and again.body["error"]["code"] == "conflict"
    assert len(bookings(store)) == 1
    overlapping = personal.book("alice", "2026-11-23T10:30:00Z")
    assert overlapping.status == 201  # touching, not overlapping


@pytest.mark.parametrize("start, reason", [
    ("2026-11-23T10:10:00Z", "not the start of one of this calendar's slots"),
    ("2026-11-23T07:30:00Z", "in the past"),
    ("2026-11-23T17:00:00Z", "not the start"),               # after hours (18:00 Berlin)
    ("2026-11-28T10:00:00Z", "not the start"),               # Saturday
    ("2027-03-01T10:00:00Z", "days ahead"),
    ("2026-11-23T10:00:00", "offset"),
    ("tomorrow", "ISO-8601"),
])
def test_starts_that_are_not_bookable_are_422_and_store_nothing(personal, store, queue, start, reason):
    r = personal.book("alice", start)
    assert r.status == 422, r.body
    assert r.body["error"]["field"] == "start" and reason in r.body["error"]["reason"]
    assert nothing_stored(store, queue)


def test_minimum_notice_is_enforced(api, store, queue):
    api.setup("acme", ["alice"], {"p": calendar_body("n", [member("alice")], minimum_notice_minutes=180)})
    r = api.book("n", "2026-11-23T10:00:00Z")
    assert r.status == 422 and "minimum notice" in r.body["error"]["reason"]
    assert api.book("n", "2026-11-23T11:00:00Z").status == 201


@pytest.mark.parametrize("over, field", [
    ({"name": 5}, "name"),
    ({"email": "nope"}, "email"),
    ({"timezone": "Moon/Base"}, "timezone"),
    ({"notes": "x" * 2001}, "notes"),
    ({"unexpected": True}, "unexpected"),
    ({"start": 1700000000}, "start"),
    ({"time_format": "13h"}, "time_format"),
])
def test_bad_booking_inputs_are_422_and_store_nothing(personal, store, queue, over, field):
    r = personal.book("alice", over.pop("start", SLOT), **over)
    assert r.status == 422 and r.body["error"]["field"] == field, r.body
    assert nothing_stored(store, queue)


def test_unknown_slug_huge_body_and_bad_idempotency_key_store_nothing(personal, store, queue):
    assert personal.book("nobody", SLOT).status == 404
    huge = json.dumps({"start": SLOT, "name": "x", "email": "a@b.test", "timezone": "UTC",
                       "notes": "y" * (80 * 1024)}).encode()
    r = personal.book("alice", SLOT, raw=huge)
    assert r.status == 413 and r.body["error"]["field"] == "body"
    r = personal.book("alice", SLOT, key="bad key with spaces")
    assert r.status == 422 and r.body["error"]["field"] == "Idempotency-Key"
    assert personal.book("alice", SLOT, raw=b"[]").status == 422
    assert nothing_stored(store, queue)


def test_the_same_idempotency_key_returns_the_same_booking(personal, store, queue):
    first = personal.book("alice", SLOT, key="key-1")
    second = personal.book("alice", SLOT, key="key-1")
    assert first.status == second.status == 201
    assert second.body == first.body
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert len(bookings(store)) == 1
    assert len(queue.on("meetings")) == 1
    other = personal.book("alice", SLOT, key="key-1", name="Someone Else")
    assert other.status == 422 and other.body["error"]["field"] == "Idempotency-Key"
    # a failed request releases its key
    personal.book("alice", "2026-11-23T11:00:00Z")
    taken = personal.book("alice", "2026-11-23T11:00:00Z", key="key-2")
    assert taken.status == 409
    assert store.get("idempotency", "alice", __import__("hashlib").sha256(b"key-2").hexdigest()) is None


def test_an_abandoned_idempotency_claim_is_taken_over_or_resolved(personal, store, queue, clock):
    import hashlib

    rk = hashlib.sha256(b"k").hexdigest()
    r = personal.book("alice", SLOT, key="k")
    claim = store.get("idempotency", "alice", rk)
    assert claim["state"] == "done" and claim["host"] == "alice" and claim["booking_id"] == r.body["id"]
    # simulate a crash after the booking committed but before the claim was completed
    store.update("idempotency", {**claim, "state": "pending"}, claim["_etag"])
    in_flight = personal.book("alice", SLOT, key="k")
    assert in_flight.status == 409 and "still being processed" in in_flight.body["error"]["message"]
    clock.advance(minutes=3)
    resolved = personal.book("alice", SLOT, key="k")
    assert resolved.status == 201 and resolved.body["id"] == r.body["id"]
    assert len(bookings(store)) == 1


# ------------------------------------------------------------------ manage
def test_get_with_token_and_wrong_tokens_are_404(personal, store):
    a = personal.book("alice", SLOT).body
    b = personal.book("alice", "2026-11-23T11:00:00Z").body
    got = personal.get(a["id"], a["manage_token"])
    assert got.status == 200
    assert got.body["link_status"] == "static" and got.body["meeting_url"] == "https://meet.example/alice"
    assert got.body["invitee"]["email"] == "ivy@example.test"
    for booking_id, token in [(a["id"], b["manage_token"]), (a["id"], "garbage"), (a["id"], ""),
                              ("0" * 32, a["manage_token"]), (a["id"], a["manage_token"][:-2] + "xx")]:
        r = personal.get(booking_id, token)
        assert r.status == 404 and r.body["error"]["message"] == "no such booking"
        assert personal.cancel(booking_id, token).status == 404
        assert personal.reschedule(booking_id, token, "2026-11-23T12:00:00Z").status == 404


def test_cancel_deletes_the_locks_and_frees_the_slot(personal, store, queue):
    a = personal.book("alice", SLOT).body
    queue.sent.clear()
    r = personal.cancel(a["id"], a["manage_token"])
    assert r.status == 200 and r.body["status"] == "cancelled" and r.body["revision"] == 2
    assert r.body["meeting_url"] is None  # issue 21 (9): a cancelled booking shows no join link
    assert personal.get(a["id"], a["manage_token"]).body["meeting_url"] is None
    assert locks(store) == []
    assert queue.on("meetings") == [{"op": "cancel", "workspace": "acme", "host": "alice", "booking_id": a["id"],
                                     "revision": 2}]
    assert [m["kind"] for m in queue.on("communications")] == ["cancellation"]
    again = personal.cancel(a["id"], a["manage_token"])
    assert again.status == 200 and again.body["revision"] == 2
    assert personal.book("alice", SLOT).status == 201
    assert personal.reschedule(a["id"], a["manage_token"], "2026-11-23T12:00:00Z").status == 409


def test_cancel_of_an_awaiting_booking_removes_its_backfill_row(api, store):
    api.setup("acme", ["alice"], {"p": calendar_body("t", [member("alice", "teams")])})
    a = api.book("t", SLOT).body
    api.work_meetings()
    assert len(store.all("backfillindex")) == 1
    api.cancel(a["id"], a["manage_token"])
    assert store.all("backfillindex") == []


def test_reschedule_keeps_the_id_bumps_the_revision_moves_the_locks(personal, store, queue):
    a = personal.book("alice", SLOT).body
    queue.sent.clear()
    r = personal.reschedule(a["id"], a["manage_token"], "2026-11-23T12:00:00Z")
    assert r.status == 200, r.body
    assert r.body["id"] == a["id"] and r.body["revision"] == 2 and r.body["start"] == "2026-11-23T12:00:00Z"
    assert r.body["manage_token"] == a["manage_token"]
    assert locks(store) == [f"lock|20261123T12{m:02d}Z" for m in range(0, 30, 5)]
    assert all(e["booking_id"] == a["id"] for e in store.all("schedule") if e["RowKey"].startswith("lock|"))
    assert queue.on("meetings") == [{"op": "reschedule", "workspace": "acme", "host": "alice",
                                     "booking_id": a["id"], "revision": 2}]
    assert [m["kind"] for m in queue.on("communications")] == ["reschedule"]
    assert personal.book("alice", SLOT).status == 201  # the old time is free again


def test_reschedule_onto_an_overlapping_time_of_its_own_works(api, store):
    week = {"monday": [{"start": "09:00", "end": "17:00"}]}
    api.setup("acme", ["alice"], {"p": calendar_body("o", [member("alice")], slot_interval_minutes=15,
                                                     weekly_hours=week)})
    a = api.book("o", SLOT).body
    r = api.reschedule(a["id"], a["manage_token"], "2026-11-23T10:15:00Z")
    assert r.status == 200, r.body
    assert locks(store) == [f"lock|20261123T10{m:02d}Z" for m in range(15, 45, 5)]


def test_reschedule_onto_a_taken_slot_is_409_and_changes_nothing(personal, store, queue):
    a = personal.book("alice", SLOT).body
    personal.book("alice", "2026-11-23T12:00:00Z")
    before = sorted(map(str, store.all("schedule")))
    r = personal.reschedule(a["id"], a["manage_token"], "2026-11-23T12:00:00Z")
    assert r.status == 409
    assert sorted(map(str, store.all("schedule"))) == before
    bad = personal.reschedule(a["id"], a["manage_token"], "2026-11-23T12:05:00Z")
    assert bad.status == 422


def test_reschedule_ignores_the_bookings_own_outlook_event(api, store, graph):
    api.setup("acme", ["alice"], {"p": calendar_body("o", [member("alice", provider="microsoft")],
                                                     slot_interval_minutes=15)})
    connect(store, "acme", "alice")
    standin = ScheduleStandIn()
    standin.install(graph)
    a = api.book("o", SLOT).body
    standin.busy["alice@contoso.test"] = [(SLOT, SLOT_END, "busy")]  # the meeting worker wrote the event
    assert api.reschedule(a["id"], a["manage_token"], "2026-11-23T10:15:00Z").status == 200


# ------------------------------------------------------------------ round robin
def test_round_robin_spreads_30_bookings_least_recently_booked_first(api, store, clock):
    members = [member(u) for u in ("alice", "bob", "carol")]
    api.setup("acme", ["alice", "bob", "carol"], {"rr": calendar_body("rr", members, type="round_robin")})
    hosts = []
    for start in first_slots(api, "rr", 30):
        r = api.book("rr", start)
        assert r.status == 201, r.body
        hosts.append(r.body["hosts"][0]["user"])
    assert hosts == ["alice", "bob", "carol"] * 10
    stats = json.loads(store.get("calendarstats", "acme", "rr")["members_json"])
    assert {u: s["count"] for u, s in stats.items()} == {"alice": 10, "bob": 10, "carol": 10}


def test_round_robin_skips_busy_members_and_keeps_least_recent_order(api, store, graph):
    users = ["alice", "bob", "carol"]
    members = [member("alice"), member("bob", provider="microsoft"), member("carol")]
    api.setup("acme", users, {"rr": calendar_body("rr", members, type="round_robin")})
    connect(store, "acme", "bob")
    # bob is busy in Outlook on Monday morning 09:00-10:00Z
    ScheduleStandIn(busy={"bob@contoso.test": [("2026-11-23T09:00:00Z", "2026-11-23T10:00:00Z", "busy")]}
                    ).install(graph)
    order = []
    for start in ["2026-11-23T08:00:00Z", "2026-11-23T09:00:00Z", "2026-11-23T09:30:00Z", "2026-11-23T10:00:00Z",
                  "2026-11-23T10:30:00Z", "2026-11-23T11:00:00Z"]:
        r = api.book("rr", start)
        assert r.status == 201, r.body
        order.append(r.body["hosts"][0]["user"])
    # alice (never booked), then bob would be next but is busy -> carol, alice; then bob is free again
    assert order == ["alice", "carol", "alice", "bob", "carol", "alice"]


def test_round_robin_rechecks_the_chosen_members_calendar_at_confirmation(api, store, graph, tokens):
    members = [member("alice", provider="microsoft"), member("bob")]
    api.setup("acme", ["alice", "bob"], {"rr": calendar_body("rr", members, type="round_robin")})
    connect(store, "acme", "alice")
    standin = ScheduleStandIn()
    standin.install(graph)
    assert SLOT in [s["start"] for s in api.slots("rr", "2026-11-23", "2026-11-23").body["slots"]]
    standin.busy["alice@contoso.test"] = [(SLOT, SLOT_END, "busy")]  # alice's Outlook changed meanwhile
    r = api.book("rr", SLOT)
    assert r.status == 201 and r.body["hosts"][0]["user"] == "bob"
    tokens.failures["alice"] = RuntimeError("token store down")
    r2 = api.book("rr", "2026-11-23T11:00:00Z")
    assert r2.body["hosts"][0]["user"] == "bob"  # alice's calendar cannot be read: she is busy


def test_weighted_round_robin_follows_the_weights(api, store):
    members = [member("alice", weight=1), member("bob", weight=3)]
    api.setup("acme", ["alice", "bob"], {"rr": calendar_body("rr", members, type="round_robin")})
    hosts = [api.book("rr", start).body["hosts"][0]["user"] for start in first_slots(api, "rr", 16)]
    assert hosts.count("bob") == 12 and hosts.count("alice") == 4


def test_round_robin_with_every_member_taken_is_409(api, store):
    api.setup("acme", ["alice", "bob"], {
        "rr": calendar_body("rr", [member("alice"), member("bob")], type="round_robin"),
        "a": calendar_body("a", [member("alice")]), "b": calendar_body("b", [member("bob")]),
    })
    assert api.book("a", SLOT).status == 201
    assert api.book("rr", SLOT).body["hosts"][0]["user"] == "bob"
    assert api.book("rr", SLOT, email="another.invitee@example.test").status == 409
    assert api.book("b", SLOT).status == 409


# ------------------------------------------------------------------ collective
def test_collective_locks_every_member_and_the_booking_lives_with_the_first(api, store, queue):
    api.setup("acme", ["alice", "bob", "carol"], {
        "c": calendar_body("c", [member("carol"), member("alice"), member("bob")], type="collective")})
    r = api.book("c", SLOT)
    assert r.status == 201
    assert [h["user"] for h in r.body["hosts"]] == ["carol", "alice", "bob"]
    bid = r.body["id"]
    assert schedule_rows(store, "booking|") == [("acme|carol", f"booking|{bid}")]
    for pk in ("acme|alice", "acme|bob", "acme|carol"):
        assert len(locks(store, pk)) == 6
    assert all(e["booking_host"] == "carol" for e in store.all("schedule") if e["RowKey"].startswith("lock|"))
    assert queue.on("meetings")[0]["host"] == "carol"
    cancel = api.cancel(bid, r.body["manage_token"])
    assert cancel.status == 200 and locks(store) == []


def test_collective_conflict_on_one_member_rolls_back_the_other_locks(api, store):
    api.setup("acme", ["alice", "bob"], {
        "c": calendar_body("c", [member("alice"), member("bob")], type="collective"),
        "b": calendar_body("b", [member("bob")]),
    })
    assert api.book("b", SLOT).status == 201
    r = api.book("c", SLOT)
    assert r.status == 409
    assert locks(store, "acme|alice") == []
    assert len(bookings(store)) == 1


def test_collective_reschedule_moves_every_members_locks(api, store):
    api.setup("acme", ["alice", "bob"], {"c": calendar_body("c", [member("alice"), member("bob")],
                                                            type="collective")})
    a = api.book("c", SLOT).body
    r = api.reschedule(a["id"], a["manage_token"], "2026-11-23T13:00:00Z")
    assert r.status == 200
    for pk in ("acme|alice", "acme|bob"):
        assert locks(store, pk) == [f"lock|20261123T13{m:02d}Z" for m in range(0, 30, 5)]


def test_collective_reschedule_conflict_rolls_back(api, store):
    api.setup("acme", ["alice", "bob"], {
        "c": calendar_body("c", [member("alice"), member("bob")], type="collective"),
        "a": calendar_body("a", [member("alice")]),
    })
    booked = api.book("c", SLOT).body
    assert api.book("a", "2026-11-23T13:00:00Z").status == 201
    before = sorted(map(str, store.all("schedule")))
    r = api.reschedule(booked["id"], booked["manage_token"], "2026-11-23T13:00:00Z")
    assert r.status == 409
    assert sorted(map(str, store.all("schedule"))) == before


# ------------------------------------------------------------------ stale locks
def _stale_lock(store, clock, booking_id="f" * 32, host="alice", age_minutes=5):
    from shared.repositories.bookings import Booking

    ghost = Booking(id=booking_id, workspace="acme", calendar="p", calendar_slug="alice", calendar_type="personal",
                    calendar_timezone="Europe/Berlin", host=host, hosts=[{"user": host}], invitee_name="",
                    invitee_email="", invitee_timezone="UTC", start_utc=datetime(2026, 11, 23, 10, tzinfo=UTC),
                    end_utc=datetime(2026, 11, 23, 10, 30, tzinfo=UTC))
    created = clock.now() - timedelta(minutes=age_minutes)
    store.insert("schedule", lock_entity("acme", "alice", "lock|20261123T1010Z", ghost, created))


def test_a_stale_lock_without_booking_is_removed_and_the_booking_succeeds(personal, store, clock):
    _stale_lock(store, clock, age_minutes=5)
    r = personal.book("alice", SLOT)
    assert r.status == 201
    assert all(e["booking_id"] == r.body["id"] for e in store.all("schedule") if e["RowKey"].startswith("lock|"))


def test_a_young_lock_without_booking_is_respected(personal, store, clock):
    _stale_lock(store, clock, age_minutes=1)
    assert personal.book("alice", SLOT).status == 409


def test_a_lock_left_by_a_cancelled_booking_is_stale(personal, store, clock):
    a = personal.book("alice", SLOT).body
    row = store.get("schedule", "acme|alice", f"booking|{a['id']}")
    store.update("schedule", {**row, "status": "cancelled"}, row["_etag"])  # crash before the locks went
    clock.advance(minutes=3)
    assert personal.book("alice", SLOT).status == 201


def test_booking_rows_keep_fields_written_by_workers(personal, store):
    a = personal.book("alice", SLOT).body
    row = store.get("schedule", "acme|alice", f"booking|{a['id']}")
    store.update("schedule", {**row, "graph_event_id": "AAMk=", "organizer_oid": "oid-1"}, row["_etag"])
    personal.reschedule(a["id"], a["manage_token"], "2026-11-23T12:00:00Z")
    moved = booking_from_entity(store.get("schedule", "acme|alice", f"booking|{a['id']}"))
    assert (moved.graph_event_id, moved.organizer_oid) == ("AAMk=", "oid-1")
    assert {k: v for k, v in moved.extra.items() if k != "request_fingerprint"} == {
        "previous_start_utc": a["start"], "previous_end_utc": a["end"]}


def _worker_writes_once(store, booking_id):
    """Make the next booking update lose a race against a worker writing its own field."""
    original = store.transact
    fired = []

    def transact(table, ops):
        if not fired and any(op == "update" for op, _ in ops):
            fired.append(True)
            row = store.get("schedule", "acme|alice", f"booking|{booking_id}")
            store.update("schedule", {**row, "graph_event_id": "EVT-1", "link_state": "created",
                                      "meeting_url": "https://teams.example/l/1"}, row["_etag"])
        return original(table, ops)

    store.transact = transact
    return fired


@pytest.mark.parametrize("action", ["reschedule", "cancel"])
def test_reschedule_and_cancel_survive_a_worker_writing_the_booking_meanwhile(personal, store, action):
    a = personal.book("alice", SLOT).body
    fired = _worker_writes_once(store, a["id"])
    if action == "reschedule":
        r = personal.reschedule(a["id"], a["manage_token"], "2026-11-23T12:00:00Z")
    else:
        r = personal.cancel(a["id"], a["manage_token"])
    assert fired and r.status == 200, r.body
    row = booking_from_entity(store.get("schedule", "acme|alice", f"booking|{a['id']}"))
    assert row.graph_event_id == "EVT-1" and row.link_state == "created" and row.revision == 2
    assert r.body["meeting_url"] == (None if action == "cancel" else "https://teams.example/l/1")
    expected = [] if action == "cancel" else [f"lock|20261123T12{m:02d}Z" for m in range(0, 30, 5)]
    assert locks(store) == expected


def test_a_missing_signing_key_refuses_the_booking_before_anything_is_stored(store, queue, clock, tokens):
    from tests.unit.booking.helpers import Api

    setup = Api(store, queue, clock, tokens=tokens)
    setup.setup("acme", ["alice"], {"p": calendar_body("n", [member("alice")])})
    broken = Api(store, queue, clock, tokens=tokens, settings={"LINK_SIGNING_KEY": ""})
    r = broken.book("n", SLOT)
    assert r.status == 500 and r.body["error"]["code"] == "configuration_error"
    assert list(store.query("schedule", "acme|alice")) == [] and queue.sent == []


def test_reschedule_stores_the_previous_times_for_the_notice(personal, store):
    """Issue 15, "Reschedule notices never show the previous time": the booking keeps them."""
    a = personal.book("alice", SLOT).body
    assert personal.reschedule(a["id"], a["manage_token"], "2026-11-23T12:00:00Z").status == 200
    row = next(e for e in store.all("schedule") if e["RowKey"] == f"booking|{a['id']}")
    assert (row["previous_start_utc"], row["previous_end_utc"]) == (a["start"], a["end"])


# ------------------------------------------------------------------ Outlook re-checks (issue 15's test gaps)
def _collective_with_outlook(api, store, graph):
    """alice and bob on a collective calendar; bob's free/busy comes from Outlook (getSchedule stand-in)."""
    api.setup("acme", ["alice", "bob"], {
        "c": calendar_body("c", [member("alice"), member("bob", provider="microsoft")], type="collective")})
    connect(store, "acme", "bob")
    standin = ScheduleStandIn()
    standin.install(graph)
    return standin


def test_collective_booking_rechecks_every_members_outlook_at_confirmation(api, store, queue, graph):
    standin = _collective_with_outlook(api, store, graph)
    assert SLOT in [s["start"] for s in api.slots("c", "2026-11-23", "2026-11-23").body["slots"]]
    standin.busy["bob@contoso.test"] = [(SLOT, SLOT_END, "busy")]  # bob's Outlook changed after the listing
    r = api.book("c", SLOT)
    assert r.status == 409, r.body
    assert bookings(store) == [] and locks(store) == [] and queue.on("meetings") == []
    assert api.book("c", "2026-11-23T11:00:00Z").status == 201   # a time bob is free still books


def test_collective_reschedule_rechecks_every_members_outlook(api, store, graph):
    standin = _collective_with_outlook(api, store, graph)
    booked = api.book("c", SLOT).body
    standin.busy["bob@contoso.test"] = [("2026-11-23T13:00:00Z", "2026-11-23T13:30:00Z", "busy")]
    before = sorted(map(str, store.all("schedule")))
    r = api.reschedule(booked["id"], booked["manage_token"], "2026-11-23T13:00:00Z")
    assert r.status == 409, r.body
    assert sorted(map(str, store.all("schedule"))) == before
    assert api.reschedule(booked["id"], booked["manage_token"], "2026-11-23T14:00:00Z").status == 200


# ------------------------------------------------------------------ buffers in the locks (issue 15 point 7)
def buffered(api, **over):
    """A calendar with a 15-minute buffer before and a 10-minute one after each booking."""
    week = {"monday": [{"start": "09:00", "end": "17:00"}]}
    api.setup("acme", ["alice"], {"b": calendar_body("buf", [member("alice")], slot_interval_minutes=15,
                                                     weekly_hours=week, buffer_before_minutes=15,
                                                     buffer_after_minutes=10, **over)})


def lock_kinds(store):
    """{HHMM of each lock cell: its kind}."""
    return {e["RowKey"][-5:-1]: e.get("lock_kind", "meeting") for e in store.all("schedule")
            if e["RowKey"].startswith("lock|")}


def test_buffer_cells_are_locked_with_the_meeting_and_moved_and_released_with_it(api, store, clock):
    buffered(api)
    a = api.book("buf", SLOT).body  # 10:00-10:30, locks reach 10:45 (the longer buffer)
    assert lock_kinds(store) == {**{f"10{m:02d}": "meeting" for m in range(0, 30, 5)},
                                 "1030": "buffer", "1035": "buffer", "1040": "buffer"}
    stored = store.get("schedule", "acme|alice", f"booking|{a['id']}")
    assert stored["lock_tail_minutes"] == 15
    # the slots around it still follow the availability rule (buffer cells are not read as the meeting)
    starts = [s["start"][11:16] for s in api.slots("buf", "2026-11-23", "2026-11-23").body["slots"]]
    assert "10:45" in starts and "10:30" not in starts and "09:15" in starts and "09:30" not in starts
    # moved 15 minutes later: 10:30-10:40 turn from buffer to meeting, 10:00-10:10 are released
    r = api.reschedule(a["id"], a["manage_token"], "2026-11-23T10:15:00Z")
    assert r.status == 200, r.body
    assert lock_kinds(store) == {**{f"10{m:02d}": "meeting" for m in range(15, 45, 5)},
                                 "1045": "buffer", "1050": "buffer", "1055": "buffer"}
    clock.advance(minutes=5)  # a buffer cell is not judged stale (and removed) while its booking holds it
    tail_row = store.get("schedule", "acme|alice", "lock|20261123T1050Z")
    assert lock_is_stale(store, "acme", tail_row, clock.now(), {}) is False
    assert api.book("buf", "2026-11-23T10:45:00Z", email="next@example.test").status == 409
    assert api.cancel(a["id"], a["manage_token"]).status == 200
    assert lock_kinds(store) == {}
    assert api.book("buf", "2026-11-23T10:45:00Z", email="next@example.test").status == 201
