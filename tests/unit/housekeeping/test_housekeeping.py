"""Housekeeping on the fake store, over traffic the real writers made: what goes when, what stays, the budget,
and a row that changed between the scan and the delete."""
from __future__ import annotations

from datetime import UTC, datetime

from shared.domain.connections import AUTH_FLOWS_TABLE, CONNECT_LINKS_TABLE
from shared.domain.rate_limits import COUNTERS_TABLE
from shared.errors import RateLimited
from shared.repositories import webhooks as webhook_repo
from shared.usecases.housekeeping import run_housekeeping
from shared.usecases.webhooks import list_deliveries
from tests.fakes import FixedClock, InMemoryEntityStore
from tests.unit.housekeeping.helpers import CLIENT, PER_DAY, PER_TEN_MINUTES, WS, counts, rows, write_traffic

T0 = datetime(2026, 11, 23, 8, 0, 10, tzinfo=UTC)


def test_each_table_keeps_its_rows_until_nothing_will_read_them_again() -> None:
    store, clock = InMemoryEntityStore(), FixedClock(T0)
    traffic = write_traffic(store, clock)
    written = counts(store)
    assert written == {COUNTERS_TABLE: 3, AUTH_FLOWS_TABLE: 1, CONNECT_LINKS_TABLE: 2, "delivery states": 2,
                       "attempts": 2}

    clock.advance(seconds=20)  # every window still open, every link still valid
    assert run_housekeeping(store, clock).as_dict() == {"deleted": {}, "kept_changed": 0, "complete": True}
    assert counts(store) == written

    clock.advance(hours=2)  # the 1-minute and 10-minute windows are over; links expired, but within a day
    assert run_housekeeping(store, clock).deleted == {COUNTERS_TABLE: 2}
    traffic.limiter.hit(PER_TEN_MINUTES, CLIENT)  # the limiter's remembered ETag is gone: it starts afresh
    assert len(rows(store, COUNTERS_TABLE)) == 2

    clock.advance(days=1)  # a day past the links' expiry; the daily window and the new 10-minute one are over
    assert run_housekeeping(store, clock).deleted == {COUNTERS_TABLE: 2, AUTH_FLOWS_TABLE: 1,
                                                      CONNECT_LINKS_TABLE: 2}
    assert counts(store)["delivery states"] == 2 and counts(store)["attempts"] == 2
    assert len(list_deliveries(traffic.hooks, WS, "down")["deliveries"]) == 1

    clock.advance(days=30)  # the attempts and the settled delivery are past retention; the pending one stays
    assert run_housekeeping(store, clock).deleted == {webhook_repo.DELIVERIES: 3}
    left = rows(store, webhook_repo.DELIVERIES)
    assert [rk for _, rk in left] == [webhook_repo.delivery_rk(traffic.pending_delivery)]
    assert list_deliveries(traffic.hooks, WS, "down")["deliveries"] == []
    assert run_housekeeping(store, clock).deleted == {}


def test_a_counter_pruned_in_its_window_would_be_a_bug_so_a_full_one_still_refuses() -> None:
    store, clock = InMemoryEntityStore(), FixedClock(T0)
    limiter = write_traffic(store, clock).limiter
    for _ in range(PER_DAY.count - 1):
        limiter.hit(PER_DAY, CLIENT)
    clock.advance(hours=3)  # same day: the daily counter's window is still open
    run_housekeeping(store, clock)
    try:
        limiter.hit(PER_DAY, CLIENT)
    except RateLimited as refused:
        assert refused.limit == PER_DAY.name
    else:
        raise AssertionError("the full daily counter was pruned inside its window")


def test_a_run_stops_at_its_budget_and_the_next_goes_on() -> None:
    store, clock = InMemoryEntityStore(), FixedClock(T0)
    write_traffic(store, clock)
    clock.advance(days=40)
    first = run_housekeeping(store, clock, max_deletes=4)
    assert sum(first.deleted.values()) == 4 and first.complete is False
    second = run_housekeeping(store, clock, max_deletes=4)
    assert sum(second.deleted.values()) == 4 and second.complete is False
    third = run_housekeeping(store, clock, max_deletes=4)
    assert third.complete is True and sum(third.deleted.values()) == 1
    assert counts(store) == {COUNTERS_TABLE: 0, AUTH_FLOWS_TABLE: 0, CONNECT_LINKS_TABLE: 0,
                             "delivery states": 1, "attempts": 0}


class HitDuringTheScan(InMemoryEntityStore):
    """A store where another instance counts a hit on every rate-limit row right after the scan read it."""

    def scan(self, table, *, below=None, select=None):  # type: ignore[no-untyped-def]
        found = list(super().scan(table, below=below, select=select))
        if table == COUNTERS_TABLE:
            for row in found:
                current = self.get(table, row["PartitionKey"], row["RowKey"])
                assert current is not None
                self.update(table, {**current, "count": int(current["count"]) + 1}, current["_etag"])
        return iter(found)


def test_a_row_written_after_the_scan_read_it_is_kept() -> None:
    store, clock = HitDuringTheScan(), FixedClock(T0)
    write_traffic(store, clock)
    clock.advance(hours=2)
    run = run_housekeeping(store, clock)
    assert run.kept_changed == 2 and COUNTERS_TABLE not in run.deleted
    assert len(rows(store, COUNTERS_TABLE)) == 3
