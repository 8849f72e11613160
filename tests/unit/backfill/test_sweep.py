"""The sweep use case over the in-memory fakes of our ports: selection, indexes, checkpoint, budget, lease."""
from __future__ import annotations

import logging
import threading
from datetime import UTC, timedelta

import pytest

from shared.errors import ConcurrencyConflict
from shared.repositories import bookings as repo
from shared.usecases import backfill
from shared.usecases.backfill import Checkpoint, load_checkpoint, run_for_host, run_sweep, save_checkpoint
from tests.fakes import FixedClock, InMemoryEntityStore, InMemoryMessageQueue
from tests.unit.backfill.helpers import (
    OID_B,
    Ticks,
    add_booking,
    creates,
    deps,
    host_keys,
    index_keys,
    new_ws,
    plant_index_row,
    set_connection,
    stored,
)

UTC = UTC


@pytest.fixture
def store():
    return InMemoryEntityStore()


@pytest.fixture
def queue():
    return InMemoryMessageQueue()


@pytest.fixture
def clock():
    return FixedClock()  # Monday 2026-11-23 08:00 UTC


def at(clock, days=0, hours=0):
    return clock.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=days, hours=hours)


# =============================================================================== selection
def test_upcoming_rows_of_a_reconnected_host_are_enqueued_from_the_row_alone_no_booking_touched(store, queue,
                                                                                                 clock):
    """The sweep decides from the index row (past: delete; upcoming: claim, enqueue naming the row); the
    meeting worker reads the booking and leaves cancelled/linked/failed/... ones unchanged (its own tests)."""
    ws = new_ws()
    set_connection(store, clock, ws, "alice", "disconnected", transition=False)
    good = add_booking(store, ws, "alice", at(clock, days=2))
    past = add_booking(store, ws, "alice", at(clock, hours=1))
    cancelled = add_booking(store, ws, "alice", at(clock, days=3), status="cancelled", revision=2)  # index left over
    linked = add_booking(store, ws, "alice", at(clock, days=4), index=True, link_state="created",
                         meeting_url="https://teams.microsoft.com/l/meetup-join/old")
    before_teams = add_booking(store, ws, "alice", at(clock, days=5), index=True, location="none",
                               link_state="not_applicable")
    class_cal = add_booking(store, ws, "alice", at(clock, days=6), index=True, calendar_type="class")
    event_cal = add_booking(store, ws, "alice", at(clock, days=6, hours=1), index=True, calendar_type="event",
                            location="custom", link_state="static", custom_url="https://meet.example/e",
                            meeting_url="https://meet.example/e")
    failed = add_booking(store, ws, "alice", at(clock, days=7), index=True, link_state="failed")
    bob = add_booking(store, ws, "bob", at(clock, days=2))               # another host, not connected
    other_ws = new_ws()
    other = add_booking(store, other_ws, "alice", at(clock, days=2))     # same user id, another workspace
    untouched = {b.id: stored(store, b) for b in (past, cancelled, linked, before_teams, class_cal, event_cal,
                                                  failed, bob, other)}

    clock.advance(hours=2)  # ``past`` started an hour ago
    set_connection(store, clock, ws, "alice", "connected", generation=2)
    run = run_sweep(deps(store, queue, clock))

    upcoming = [good, cancelled, linked, before_teams, class_cal, event_cal, failed]  # by start: earliest first
    assert creates(queue) == [("alice", b.id, b.revision) for b in upcoming]
    assert [m["backfill_row"] for m in queue.on("meetings")] == [f"{repo.iso_utc(b.start_utc)}|{b.id}"
                                                                 for b in upcoming]
    # alice (connected) and, through the host index, bob and the other workspace's alice (not connected)
    assert (run.hosts, run.hosts_not_connected, run.candidates, run.enqueued, run.stale) == (3, 2, 7, 7, 1)
    for b in (past, cancelled, linked, before_teams, class_cal, event_cal, failed, bob, other):
        assert stored(store, b) == untouched[b.id]  # never changed, not even re-written
    assert index_keys(store, ws, "alice") == [f"{repo.iso_utc(b.start_utc)}|{b.id}" for b in upcoming]
    assert index_keys(store, ws, "bob") != [] and index_keys(store, other_ws, "alice") != []
    claimed = store.get(repo.BACKFILL, f"{ws}|alice", index_keys(store, ws, "alice")[0])
    assert claimed["enqueued_generation"] == 2 and claimed["enqueued_run"] == run.run_id


def test_a_candidate_is_enqueued_once_per_generation_until_the_reenqueue_delay(store, queue, clock):
    ws = new_ws()
    b = add_booking(store, ws, "alice", at(clock, days=2))
    set_connection(store, clock, ws, "alice", generation=3)
    run_sweep(deps(store, queue, clock))
    second = run_sweep(deps(store, queue, clock))
    assert creates(queue) == [("alice", b.id, 1)]
    assert (second.candidates, second.enqueued, second.skipped) == (1, 0, 1)
    clock.advance(minutes=11)
    run_sweep(deps(store, queue, clock))
    assert creates(queue) == [("alice", b.id, 1)] * 2
    set_connection(store, clock, ws, "alice", generation=4)  # reconnected again: at once
    run_sweep(deps(store, queue, clock))
    assert len(creates(queue)) == 3


def test_the_message_carries_the_revision_the_row_was_indexed_with_and_names_the_row(store, queue, clock):
    ws = new_ws()
    b = add_booking(store, ws, "alice", at(clock, days=2), revision=3)
    set_connection(store, clock, ws, "alice")
    run_sweep(deps(store, queue, clock))
    assert queue.on("meetings") == [{"op": "create", "workspace": ws, "host": "alice", "booking_id": b.id,
                                     "revision": 3, "backfill_row": f"{repo.iso_utc(b.start_utc)}|{b.id}"}]


def test_a_host_that_is_not_connected_gets_nothing_and_keeps_its_upcoming_rows(store, queue, clock):
    ws = new_ws()
    future = add_booking(store, ws, "alice", at(clock, days=2))
    past = add_booking(store, ws, "alice", at(clock, hours=1))
    set_connection(store, clock, ws, "alice", "needs_reauth", transition=False)
    clock.advance(hours=2)
    run = run_sweep(deps(store, queue, clock))
    assert queue.sent == [] and (run.hosts, run.hosts_not_connected, run.stale) == (1, 1, 1)
    assert index_keys(store, ws, "alice") == [f"{repo.iso_utc(future.start_utc)}|{future.id}"]
    assert host_keys(store) == [f"{ws}|alice"]
    assert stored(store, past)["link_state"] == "awaiting_connection"


def test_a_host_whose_rows_are_all_gone_leaves_the_host_index(store, queue, clock):
    ws = new_ws()
    b = add_booking(store, ws, "alice", at(clock, hours=1))
    clock.advance(hours=2)
    run_sweep(deps(store, queue, clock))  # not connected: the past row goes, then the host row
    assert index_keys(store, ws, "alice") == [] and host_keys(store) == []
    assert stored(store, b)["link_state"] == "awaiting_connection"


def test_the_host_row_survives_a_booking_indexed_while_the_sweep_looked(store, queue, clock):
    """The sweep read the host row, found the index empty, then intake indexed a booking: the ETag-guarded
    delete fails and the new candidate stays reachable."""
    ws = new_ws()
    set_connection(store, clock, ws, "alice", transition=False)
    store.upsert(repo.BACKFILL_HOSTS, repo.backfill_host_entity(ws, "alice"))
    host_row = store.get(repo.BACKFILL_HOSTS, repo.BACKFILL_HOSTS_PK, f"{ws}|alice")
    late = add_booking(store, ws, "alice", at(clock, days=2))  # index row, then the host row again
    store.delete(repo.BACKFILL, f"{ws}|alice", f"{repo.iso_utc(late.start_utc)}|{late.id}")  # as seen before
    r = backfill.sweep_host(deps(store, queue, clock), ws, "alice", run_id="r", trigger="timer",
                            host_row_etag=host_row["_etag"])
    assert r.remaining == 0 and host_keys(store) == [f"{ws}|alice"]


def test_a_moved_booking_is_enqueued_through_its_outdated_row_which_the_message_names(store, queue, clock):
    ws = new_ws()
    set_connection(store, clock, ws, "alice")
    b = add_booking(store, ws, "alice", at(clock, days=2), index=False)
    plant_index_row(store, repo.Booking(**{**b.__dict__, "start_utc": at(clock, days=1)}))  # outdated row only
    run_sweep(deps(store, queue, clock))
    old = f"{repo.iso_utc(at(clock, days=1))}|{b.id}"
    assert creates(queue) == [("alice", b.id, 1)] and queue.on("meetings")[0]["backfill_row"] == old
    # the worker reads the booking: it removes the outdated row and links (or re-indexes) the booking
    assert stored(store, b)["start_utc"] == repo.iso_utc(b.start_utc)


def test_malformed_index_rows_are_removed(store, queue, clock):
    ws = new_ws()
    set_connection(store, clock, ws, "alice")
    store.upsert(repo.BACKFILL, {"PartitionKey": f"{ws}|alice", "RowKey": "garbage"})
    run = run_sweep(deps(store, queue, clock))
    assert run.stale == 1 and index_keys(store, ws, "alice") == []


# =============================================================================== indexes
def test_legacy_rows_without_a_host_row_are_found_through_the_transition_and_get_one(store, queue, clock):
    ws = new_ws()
    b = add_booking(store, ws, "alice", at(clock, days=2), index=False)
    plant_index_row(store, b)  # written before backfillhosts existed
    set_connection(store, clock, ws, "alice")
    run_sweep(deps(store, queue, clock))
    assert creates(queue) == [("alice", b.id, 1)] and host_keys(store) == [f"{ws}|alice"]


def test_a_connected_host_missed_by_the_transition_log_is_found_through_the_host_index(store, queue, clock):
    ws = new_ws()
    b = add_booking(store, ws, "alice", at(clock, days=2))
    set_connection(store, clock, ws, "alice", transition=False)  # e.g. a transition row written late, earlier key
    run = run_sweep(deps(store, queue, clock))
    assert creates(queue) == [("alice", b.id, 1)] and run.transitions == 0


def test_the_sweep_reads_only_candidates_whatever_else_is_stored(store, queue, clock):
    ws = new_ws()
    set_connection(store, clock, ws, "alice")
    wanted = [add_booking(store, ws, "alice", at(clock, days=2, hours=h)) for h in range(5)]
    for i in range(2000):
        add_booking(store, ws if i % 2 else new_ws(), f"u{i % 40}", at(clock, days=1 + i % 30), index=False,
                    link_state="created", meeting_url=f"https://teams.microsoft.com/l/meetup-join/{i}")
    before_reads, before_requests = store.entities_read, store.requests
    run = run_sweep(deps(store, queue, clock))
    reads, requests = store.entities_read - before_reads, store.requests - before_requests
    assert run.enqueued == 5 and sorted(c[1] for c in creates(queue)) == sorted(b.id for b in wanted)
    # checkpoint 0, transition 1, connection 1, host row 1, index rows 5, no booking
    assert reads <= len(wanted) + 4, reads
    assert requests <= 4 * len(wanted) + 12, requests


# =============================================================================== checkpoint and budget
def test_transitions_are_read_from_the_checkpoint_on(store, queue, clock):
    ws = new_ws()
    set_connection(store, clock, ws, "alice")
    first = run_sweep(deps(store, queue, clock))
    cp = load_checkpoint(store)
    assert first.transitions == 1 and cp.transitions_after.endswith(f"|{ws}|alice|1")
    second = run_sweep(deps(store, queue, clock))
    assert second.transitions == 0 and load_checkpoint(store).transitions_after == cp.transitions_after
    clock.advance(minutes=1)
    set_connection(store, clock, ws, "alice", generation=2)
    assert run_sweep(deps(store, queue, clock)).transitions == 1


def test_a_run_cut_short_by_its_host_budget_resumes_where_it_stopped(store, queue, clock):
    ws = new_ws()
    hosts = [f"h{i}" for i in range(7)]
    wanted = {}
    for h in hosts:
        wanted[h] = add_booking(store, ws, h, at(clock, days=2)).id
        set_connection(store, clock, ws, h)
        clock.advance(seconds=1)
    runs = []
    for _ in range(4):
        runs.append(run_sweep(deps(store, queue, clock, max_hosts=3)))
    assert [r.enqueued for r in runs] == [3, 3, 1, 0] and all(r.hosts <= 3 for r in runs)
    assert runs[0].cut_short and runs[1].cut_short
    assert sorted(b for _, b, _ in creates(queue)) == sorted(wanted.values())  # each exactly once


def test_a_run_cut_short_by_time_does_not_pass_the_host_it_was_in(store, queue, clock):
    ws = new_ws()
    set_connection(store, clock, ws, "alice")
    ids = [add_booking(store, ws, "alice", at(clock, days=2, hours=h)).id for h in range(6)]
    ticks = Ticks(step=1.0)  # every reading of the timer is a second later
    first = run_sweep(deps(store, queue, clock, timer=ticks, max_seconds=4))
    assert first.cut_short and 0 < first.enqueued < 6
    assert load_checkpoint(store).transitions_after == ""  # the host will be swept again
    for _ in range(5):
        run_sweep(deps(store, queue, clock, timer=Ticks(step=1.0), max_seconds=4))
    assert sorted(b for _, b, _ in creates(queue)) == sorted(ids)


def test_rows_per_host_are_bounded_earliest_first(store, queue, clock):
    ws = new_ws()
    set_connection(store, clock, ws, "alice")
    ids = [add_booking(store, ws, "alice", at(clock, days=2, hours=h)).id for h in range(5)]
    run = run_sweep(deps(store, queue, clock, max_rows_per_host=2))
    assert [b for _, b, _ in creates(queue)] == ids[:2] and run.cut_short
    run_sweep(deps(store, queue, clock, max_rows_per_host=2))
    run_sweep(deps(store, queue, clock, max_rows_per_host=2))
    assert sorted(b for _, b, _ in creates(queue)) == sorted(ids)


def test_the_host_cursor_wraps_around(store, queue, clock):
    ws = new_ws()
    for h in ("a", "b", "c"):
        add_booking(store, ws, h, at(clock, days=2))
        set_connection(store, clock, ws, h, "disconnected", transition=False)
    d = deps(store, queue, clock, max_hosts=2)
    assert run_sweep(d).hosts == 2 and load_checkpoint(store).hosts_after == f"{ws}|b"
    assert run_sweep(d).hosts == 1 and load_checkpoint(store).hosts_after == ""
    assert run_sweep(d).hosts == 2


def test_checkpoint_writes_are_etag_guarded_and_merge_after_a_lost_race(store, clock):
    base = save_checkpoint(store, Checkpoint("2026-11-23T08:00:00Z|a", "x"), "r0", clock.now())
    theirs = save_checkpoint(store, Checkpoint("2026-11-23T09:00:00Z|b", "y", base.etag), "r1", clock.now())
    mine = save_checkpoint(store, Checkpoint("2026-11-23T08:30:00Z|c", "z", base.etag), "r2", clock.now())
    assert mine.transitions_after == "2026-11-23T09:00:00Z|b" and mine.hosts_after == "z"
    assert load_checkpoint(store).transitions_after == "2026-11-23T09:00:00Z|b"
    with pytest.raises(ConcurrencyConflict):
        store.update("sweepstate", {"PartitionKey": "sweep", "RowKey": "checkpoint"}, theirs.etag)


# =============================================================================== concurrency
def test_a_run_holding_the_lease_keeps_a_second_one_out(store, queue, clock):
    ws = new_ws()
    set_connection(store, clock, ws, "alice")
    add_booking(store, ws, "alice", at(clock, days=2))
    held = backfill.acquire_lease(store, "other-run", clock.now(), 300)
    assert held
    busy = run_sweep(deps(store, queue, clock))
    assert busy.busy and queue.sent == []
    clock.advance(seconds=301)  # the other run died: its lease expires
    assert run_sweep(deps(store, queue, clock)).enqueued == 1
    assert store.get("sweepstate", "sweep", "lease") is None  # released


@pytest.mark.parametrize("use_lease", [True, False])
def test_two_runs_at_once_enqueue_each_candidate_once(store, queue, clock, use_lease):
    ws = new_ws()
    set_connection(store, clock, ws, "alice")
    ids = [add_booking(store, ws, "alice", at(clock, days=2, hours=h)).id for h in range(20)]
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait()
            run_sweep(deps(store, queue, clock, use_lease=use_lease))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(b for _, b, _ in creates(queue)) == sorted(ids)


def test_a_lost_claim_sends_nothing(store, queue, clock, monkeypatch):
    ws = new_ws()
    set_connection(store, clock, ws, "alice")
    add_booking(store, ws, "alice", at(clock, days=2))
    real_query = store.query

    def query_then_someone_claims(table, pk, **kw):
        found = list(real_query(table, pk, **kw))
        if table == repo.BACKFILL:  # between reading the index row and claiming it
            for row in found:
                store.update(repo.BACKFILL, {**row, "enqueued_at": "2026-11-23T08:00:00Z"}, row["_etag"])
        return iter(found)

    monkeypatch.setattr(store, "query", query_then_someone_claims)
    run = run_sweep(deps(store, queue, clock))
    assert run.enqueued == 0 and queue.sent == [] and run.results[0].lost_claims == 1


# =============================================================================== queue trigger and records
def test_the_reconnected_message_sweeps_that_host_only(store, queue, clock):
    ws = new_ws()
    a = add_booking(store, ws, "alice", at(clock, days=2))
    add_booking(store, ws, "bob", at(clock, days=2))
    set_connection(store, clock, ws, "alice", generation=2)
    set_connection(store, clock, ws, "bob", generation=2)
    run = run_for_host(deps(store, queue, clock), {"workspace": ws, "host": "alice", "reason": "reconnected"})
    assert run is not None and run.trigger == "reconnected"
    assert creates(queue) == [("alice", a.id, 1)]
    last = store.get("sweepstate", f"{ws}|alice", "last")
    assert last["trigger"] == "reconnected" and last["enqueued"] == 1 and last["connection_status"] == "connected"
    assert store.get("sweepstate", f"{ws}|bob", "last") is None


@pytest.mark.parametrize("message", [None, [], "x", {"workspace": "ws"}, {"workspace": "w|x", "host": "a"},
                                     {"workspace": "ws", "host": ""}, {"workspace": 1, "host": "a"}])
def test_bad_backfill_messages_are_dropped(store, queue, clock, message):
    assert run_for_host(deps(store, queue, clock), message) is None and store.requests == 0


def test_one_log_line_per_run_with_ids_and_counts_only(store, queue, clock, caplog):
    ws = new_ws()
    set_connection(store, clock, ws, "alice")
    add_booking(store, ws, "alice", at(clock, days=2), invitee_email="secret.person@example.test",
                invitee_name="Secret Person")
    caplog.set_level(logging.DEBUG, logger="bookbridge")
    run = run_sweep(deps(store, queue, clock))
    lines = [r.getMessage() for r in caplog.records if r.name == "bookbridge.backfill"]
    assert len(lines) == 1
    assert lines[0].startswith(f"backfill sweep run={run.run_id} trigger=timer scope=all hosts=1 ")
    assert "candidates=1 enqueued=1 skipped=0" in lines[0] and "duration_ms=" in lines[0]
    assert "secret" not in caplog.text.lower() and "@" not in caplog.text


def test_last_sweep_record_and_status_view(store, queue, clock):
    from shared.repositories import workspaces as ws_repo

    ws = new_ws()
    ws_repo.put_workspace(store, ws, "Acme", "2026-11-01T00:00:00Z")
    ws_repo.put_user(store, ws, "alice", "Alice", "alice@acme.test", "Europe/Berlin", "2026-11-01T00:00:00Z")
    add_booking(store, ws, "alice", at(clock, days=2))
    add_booking(store, ws, "alice", at(clock, days=3))
    view = backfill.backfill_status(store, clock, ws, "alice")
    assert view == {"workspace": ws, "user": "alice", "teams_connection": None, "candidates": 2, "last_sweep": None}
    set_connection(store, clock, ws, "alice", generation=5, oid=OID_B)
    run_sweep(deps(store, queue, clock))
    view = backfill.backfill_status(store, clock, ws, "alice")
    assert view["teams_connection"] == "connected" and view["candidates"] == 2
    last = view["last_sweep"]
    assert (last["trigger"], last["enqueued"], last["candidates"], last["generation"], last["cut_short"]) == \
        ("timer", 2, 2, 5, False)
    assert last["swept_at"] == "2026-11-23T08:00:00Z"
    clock.advance(days=10)
    assert backfill.backfill_status(store, clock, ws, "alice")["candidates"] == 0  # all in the past now


def test_one_hosts_bad_data_does_not_stop_the_others_a_storage_outage_stops_the_run(store, queue, clock,
                                                                                      monkeypatch, caplog):
    from shared.errors import StorageUnavailable

    ws = new_ws()
    add_booking(store, ws, "a", at(clock, days=2))
    fine = add_booking(store, ws, "b", at(clock, days=2))
    set_connection(store, clock, ws, "a")
    clock.advance(seconds=1)
    set_connection(store, clock, ws, "b")
    real_query = store.query

    def broken_for_a(table, pk, **kw):
        if table == repo.BACKFILL and pk == f"{ws}|a":
            raise ValueError("a row nobody can read")
        return real_query(table, pk, **kw)

    monkeypatch.setattr(store, "query", broken_for_a)
    caplog.set_level(logging.INFO, logger="bookbridge.backfill")
    run = run_sweep(deps(store, queue, clock))
    assert run.failed_hosts == 1  # a, once (not again through the host index in the same run)
    assert creates(queue) == [("b", fine.id, 1)]
    assert f"backfill: host failed ws={ws} host=a run={run.run_id} error=ValueError" in caplog.text
    assert load_checkpoint(store).transitions_after.endswith(f"|{ws}|b|1")  # went on past it

    def outage(table, pk, **kw):  # the host's connection rows (one partition query) cannot be read
        if table == "connections":
            raise StorageUnavailable("table storage unreachable")
        return real_query(table, pk, **kw)

    monkeypatch.setattr(store, "query", outage)
    clock.advance(minutes=1)
    set_connection(store, clock, ws, "a", generation=2)
    cp = load_checkpoint(store)
    with pytest.raises(StorageUnavailable):
        run_sweep(deps(store, queue, clock))
    assert load_checkpoint(store).transitions_after == cp.transitions_after  # not passed
    assert store.get("sweepstate", "sweep", "lease") is None  # released
