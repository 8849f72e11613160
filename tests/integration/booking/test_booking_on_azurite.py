"""Booking on real Table and Queue storage (Azurite): concurrency, collective overlap, full life cycle."""
from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from devhost.smoke import RAISED_RATE_LIMITS
from shared.bootstrap import install
from shared.usecases.meetings import handle_meeting_message
from tests.fakes import FixedClock
from tests.unit.booking.helpers import Api, calendar_body, graphless_meeting_deps, member

SLOT = "2026-11-23T10:00:00Z"  # FixedClock: Monday 2026-11-23 08:00Z
CELLS = [f"lock|20261123T10{m:02d}Z" for m in range(0, 30, 5)]
THREADS = 20


class RecordingQueue:
    """The real queue adapter, remembering what this test sent (the queues are shared by the session)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.sent: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    @property
    def requests(self) -> int:
        return self.inner.requests

    def send(self, queue: str, message: dict, *, visibility_timeout: int = 0) -> None:
        self.inner.send(queue, message, visibility_timeout=visibility_timeout)
        with self.lock:
            self.sent.append((queue, message))

    def on(self, queue: str, booking_id: str) -> list[dict]:
        return [m for q, m in self.sent if q == queue and m.get("booking_id") == booking_id]


class NoTokens:
    def __call__(self, *args, **kwargs):  # no member here reads Outlook
        raise AssertionError("no token expected")


@pytest.fixture
def azure(storage_connection_string) -> Iterator[tuple[Api, object, object]]:
    from azure.data.tables import TableServiceClient
    from azure.storage.queue import QueueServiceClient

    from shared.adapters.queue_store import StorageMessageQueue
    from shared.adapters.table_store import TableEntityStore

    store = TableEntityStore(TableServiceClient.from_connection_string(storage_connection_string))
    queue = RecordingQueue(StorageMessageQueue(QueueServiceClient.from_connection_string(storage_connection_string)))
    # the rate limits on, raised above what these tests do: the concurrency results hold with their counters
    api = Api(store, queue, FixedClock(), tokens=NoTokens(), settings=RAISED_RATE_LIMITS)
    yield api, store, queue
    install(None)


def _ids() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return f"ws{suffix}", suffix


def _partition(store, pk: str) -> list[dict]:
    return list(store.query("schedule", pk))


def _together(calls: list) -> list:
    """Run the calls on their own threads, released at the same instant."""
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_20_concurrent_posts_for_one_personal_slot_make_exactly_one_booking(azure):
    api, store, _ = azure
    ws, sfx = _ids()
    slug = f"alice-{sfx}"
    api.setup(ws, ["alice"], {"p": calendar_body(slug, [member("alice")])})
    results = _together([lambda n=n: api.book(slug, SLOT, email=f"racer{n}@example.test")  # different people
                          for n in range(THREADS)])
    statuses = Counter(r.status for r in results)
    assert statuses == {201: 1, 409: THREADS - 1}, [r.body for r in results if r.status not in (201, 409)]
    winner = next(r.body for r in results if r.status == 201)
    rows = _partition(store, f"{ws}|alice")
    assert [r["RowKey"] for r in rows if r["RowKey"].startswith("booking|")] == [f"booking|{winner['id']}"]
    locks = [r for r in rows if r["RowKey"].startswith("lock|")]
    assert sorted(r["RowKey"] for r in locks) == CELLS
    assert {r["booking_id"] for r in locks} == {winner["id"]}


def test_collective_and_personal_racing_for_an_overlapping_member_make_exactly_one_booking(azure):
    api, store, _ = azure
    ws, sfx = _ids()
    personal, collective = f"alice-{sfx}", f"team-{sfx}"
    api.setup(ws, ["alice", "bob"], {
        "p": calendar_body(personal, [member("alice")]),
        "c": calendar_body(collective, [member("alice"), member("bob")], type="collective"),
    })
    calls = [(lambda s=slug, n=n: api.book(s, SLOT, email=f"racer{n}@example.test"))  # different people
             for n, slug in enumerate([personal, collective] * (THREADS // 2))]
    results = _together(calls)
    statuses = Counter(r.status for r in results)
    assert statuses == {201: 1, 409: THREADS - 1}, [r.body for r in results if r.status not in (201, 409)]
    winner = next(r.body for r in results if r.status == 201)
    alice = _partition(store, f"{ws}|alice")
    bob = _partition(store, f"{ws}|bob")
    booking_rows = [r for r in alice + bob if r["RowKey"].startswith("booking|")]
    assert len(booking_rows) == 1 and booking_rows[0]["id"] == winner["id"]
    alice_locks = [r for r in alice if r["RowKey"].startswith("lock|")]
    bob_locks = [r for r in bob if r["RowKey"].startswith("lock|")]
    assert sorted(r["RowKey"] for r in alice_locks) == CELLS
    assert {r["booking_id"] for r in alice_locks + bob_locks} == {winner["id"]}  # no lock left by a loser
    if len(winner["hosts"]) == 2:
        assert sorted(r["RowKey"] for r in bob_locks) == CELLS
    else:
        assert bob_locks == []


def test_20_concurrent_posts_for_one_collective_slot_make_exactly_one_booking(azure):
    api, store, _ = azure
    ws, sfx = _ids()
    slug = f"team-{sfx}"
    api.setup(ws, ["alice", "bob", "carol"], {
        "c": calendar_body(slug, [member("alice"), member("bob"), member("carol")], type="collective")})
    results = _together([lambda n=n: api.book(slug, SLOT, email=f"racer{n}@example.test")  # different people
                          for n in range(THREADS)])
    assert Counter(r.status for r in results) == {201: 1, 409: THREADS - 1}
    winner = next(r.body for r in results if r.status == 201)
    for user in ("alice", "bob", "carol"):
        locks = [r for r in _partition(store, f"{ws}|{user}") if r["RowKey"].startswith("lock|")]
        assert sorted(r["RowKey"] for r in locks) == CELLS
        assert {r["booking_id"] for r in locks} == {winner["id"]}


def test_20_concurrent_posts_on_a_round_robin_slot_give_each_member_one_booking(azure):
    api, store, _ = azure
    ws, sfx = _ids()
    slug = f"rr-{sfx}"
    users = ["alice", "bob", "carol"]
    api.setup(ws, users, {"rr": calendar_body(slug, [member(u) for u in users], type="round_robin")})
    results = _together([lambda n=n: api.book(slug, SLOT, email=f"racer{n}@example.test")  # different people
                          for n in range(THREADS)])
    created = [r.body for r in results if r.status == 201]
    assert Counter(r.status for r in results) == {201: 3, 409: THREADS - 3}
    assert sorted(b["hosts"][0]["user"] for b in created) == users


def test_round_robin_over_30_bookings_on_azurite(azure):
    api, store, _ = azure
    ws, sfx = _ids()
    slug = f"rr30-{sfx}"
    users = ["alice", "bob", "carol"]
    api.setup(ws, users, {"rr": calendar_body(slug, [member(u) for u in users], type="round_robin")})
    slots = [s["start"] for s in api.slots(slug, "2026-11-23", "2026-11-30").body["slots"]][:30]
    hosts = [api.book(slug, start).body["hosts"][0]["user"] for start in slots]
    assert hosts == users * 10
    stats = json.loads(store.get("calendarstats", ws, "rr")["members_json"])
    assert {u: s["count"] for u, s in stats.items()} == {u: 10 for u in users}


def test_life_cycle_on_real_storage_create_get_reschedule_cancel(azure):
    api, store, queues = azure
    ws, sfx = _ids()
    slug = f"life-{sfx}"
    api.setup(ws, ["alice", "bob"], {"c": calendar_body(slug, [member("alice", "teams"), member("bob")],
                                                        type="collective")})
    booked = api.book(slug, SLOT, key=f"key-{sfx}")
    assert booked.status == 201 and booked.body["link_status"] == "pending"  # the reconciler decides
    bid, token = booked.body["id"], booked.body["manage_token"]
    assert queues.on("meetings", bid) == [{"op": "create", "workspace": ws, "host": "alice",
                                                  "booking_id": bid, "revision": 1}]
    handle_meeting_message(graphless_meeting_deps(store, queues, api.clock), queues.on("meetings", bid)[0])
    replay = api.book(slug, SLOT, key=f"key-{sfx}")
    assert replay.status == 201 and replay.body["id"] == bid and replay.body["link_status"] == "awaiting_connection"
    backfill = list(store.query("backfillindex", f"{ws}|alice"))
    assert [r["RowKey"] for r in backfill] == [f"{SLOT}|{bid}"]
    assert len(queues.on("meetings", bid)) == 1
    assert [m["kind"] for m in queues.on("communications", bid)] == ["confirmation", "host_notice"]

    assert api.get(bid, token).body["status"] == "confirmed"
    moved = api.reschedule(bid, token, "2026-11-23T13:00:00Z")
    assert moved.status == 200 and moved.body["revision"] == 2
    for user in ("alice", "bob"):
        locks = sorted(r["RowKey"] for r in _partition(store, f"{ws}|{user}") if r["RowKey"].startswith("lock|"))
        assert locks == [f"lock|20261123T13{m:02d}Z" for m in range(0, 30, 5)]
    assert [r["RowKey"] for r in store.query("backfillindex", f"{ws}|alice")] == [f"2026-11-23T13:00:00Z|{bid}"]

    cancelled = api.cancel(bid, token)
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled" and cancelled.body["revision"] == 3
    for user in ("alice", "bob"):
        assert [r for r in _partition(store, f"{ws}|{user}") if r["RowKey"].startswith("lock|")] == []
    assert list(store.query("backfillindex", f"{ws}|alice")) == []
    assert [m["op"] for m in queues.on("meetings", bid)] == ["create", "reschedule", "cancel"]
    assert api.get(bid, "wrong").status == 404


def test_storage_requests_of_a_personal_intake(azure):
    api, store, _ = azure
    ws, sfx = _ids()
    slug = f"count-{sfx}"
    api.setup(ws, ["alice"], {"p": calendar_body(slug, [member("alice")])})
    api.book(slug, "2026-11-23T09:00:00Z")  # warm the table clients
    tables, queues = store.requests, api.queue.requests
    assert api.book(slug, SLOT).status == 201
    # issue 15 (11): slug point read + one entity-group transaction (booking, locks and the calendar's
    # counter) + one queue put; plus the invitee's counter, one conditional write (an in-process call
    # carries no client address, so the per-client limit is not counted)
    assert store.requests - tables == 2  # the slug's row is this instance's copy (CALENDAR_CACHE_SECONDS)
    assert api.queue.requests - queues == 1  # meetings/create: the worker puts the rest


def test_concurrent_reschedules_of_one_collective_booking_leave_consistent_locks(azure):
    api, store, _ = azure
    ws, sfx = _ids()
    slug = f"move-{sfx}"
    api.setup(ws, ["alice", "bob"], {"c": calendar_body(slug, [member("alice"), member("bob")],
                                                        type="collective", slot_interval_minutes=15)})
    booked = api.book(slug, SLOT).body
    targets = ["2026-11-23T10:15:00Z", "2026-11-23T10:30:00Z", "2026-11-23T10:45:00Z", "2026-11-23T11:00:00Z",
               "2026-11-23T10:15:00Z", "2026-11-23T10:30:00Z", "2026-11-23T13:00:00Z", "2026-11-23T13:00:00Z"]
    results = _together([(lambda t=t: api.reschedule(booked["id"], booked["manage_token"], t)) for t in targets])
    statuses = Counter(r.status for r in results)
    assert statuses[200] == 1 and statuses[409] == len(targets) - 1, [r.body for r in results]
    final = api.get(booked["id"], booked["manage_token"]).body
    assert final["revision"] == 2
    start = final["start"]
    expected = sorted(r["RowKey"] for r in _partition(store, f"{ws}|alice") if r["RowKey"].startswith("lock|"))
    for user in ("alice", "bob"):
        rows = [r for r in _partition(store, f"{ws}|{user}") if r["RowKey"].startswith("lock|")]
        assert sorted(r["RowKey"] for r in rows) == expected
        assert {r["booking_id"] for r in rows} == {booked["id"]}
    hh, mm = int(start[11:13]), int(start[14:16])
    first = hh * 60 + mm
    assert expected == [f"lock|20261123T{(first + m) // 60:02d}{(first + m) % 60:02d}Z" for m in range(0, 30, 5)]


def test_concurrent_bookings_never_break_the_buffers_yet_buffers_may_overlap_buffers(azure):
    """Issue 15 point 7: buffer cells are locked with the meeting. Two bookings racing for back-to-back times of a
    calendar with 15-minute buffers both passed the availability re-check (neither saw the other) and both got
    201: the second lay inside the first's buffer. Now exactly one of each racing pair is booked; two bookings
    whose buffers only overlap each other (15 minutes apart, rule of ``shared.domain.availability``) both are."""
    api, store, _ = azure
    ws, sfx = _ids()
    slug = f"buf-{sfx}"
    api.setup(ws, ["alice"], {"p": calendar_body(slug, [member("alice")], slot_interval_minutes=15,
                                                buffer_before_minutes=15, buffer_after_minutes=10)})
    clashing = [("2026-11-23T08:30:00Z", "2026-11-23T09:00:00Z"), ("2026-11-23T10:00:00Z", "2026-11-23T10:30:00Z"),
                ("2026-11-23T11:30:00Z", "2026-11-23T12:00:00Z"), ("2026-11-23T13:00:00Z", "2026-11-23T13:30:00Z")]
    apart = ("2026-11-23T14:30:00Z", "2026-11-23T15:15:00Z")  # 15 minutes between: the buffers overlap, allowed
    starts = [s for pair in clashing for s in pair] + list(apart)
    results = _together([(lambda s=s, n=n: api.book(slug, s, email=f"racer{n}@example.test"))
                         for n, s in enumerate(starts)])
    by_start = dict(zip(starts, [r.status for r in results], strict=True))
    for first, second in clashing:
        assert sorted((by_start[first], by_start[second])) == [201, 409], (first, second, by_start)
    assert (by_start[apart[0]], by_start[apart[1]]) == (201, 201), [r.body for r in results]
    # one after the other, as before: right after a booking is refused, 15 minutes after (the longer buffer) is not
    assert api.book(slug, "2026-11-24T10:00:00Z", email="one@example.test").status == 201
    assert api.book(slug, "2026-11-24T10:30:00Z", email="two@example.test").status == 409
    assert api.book(slug, "2026-11-24T10:45:00Z", email="three@example.test").status == 201
