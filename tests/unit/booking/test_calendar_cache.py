"""Intake's calendar cache (``shared.repositories.calendar_cache``): a burst of bookings on one calendar reads
it once per ``CALENDAR_CACHE_SECONDS``, and a calendar changed in this process is never booked as it was."""
from __future__ import annotations

import threading
from typing import Any

import pytest

from shared.repositories import calendars as calendar_repo
from shared.repositories.calendar_cache import CalendarCache, calendar_changed
from tests.fakes import InMemoryEntityStore
from tests.unit.booking.helpers import Api, calendar_body, hours, member

SLOTS = hours("2026-11-23T10:00:00Z", 12)   # Monday 11:00-17:00 in Berlin


class CountingStore(InMemoryEntityStore):
    """Counts point reads of slug rows; ``during_read`` runs inside one (a change racing a read)."""

    def __init__(self) -> None:
        super().__init__()
        self.slug_reads = 0
        self.during_read: Any = None

    def get(self, table: str, pk: str, rk: str) -> Any:
        found = super().get(table, pk, rk)
        if table == calendar_repo.SLUGS:
            self.slug_reads += 1
            if self.during_read is not None:  # the answer is on its way back when the change lands
                action, self.during_read = self.during_read, None
                action()
        return found


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_api(store: Any, queue: Any, clock: Any, **settings: str) -> Api:
    api = Api(store, queue, clock, settings=settings)
    api.setup("acme", ["alice", "bob"], {"p": calendar_body("alice", [member("alice")])})
    return api


def book(api: Api, start: str, email: str = "ivy@example.test") -> Any:
    return api.book("alice", start, email=email)


@pytest.mark.parametrize("setting,reads", [({}, 1), ({"CALENDAR_CACHE_SECONDS": "0"}, 6)],
                         ids=["a burst reads the calendar once", "the cache off reads it for every booking"])
def test_slug_reads_of_a_burst_on_one_calendar(queue: Any, clock: Any, setting: dict[str, str], reads: int) -> None:
    store = CountingStore()
    api = make_api(store, queue, clock, **setting)
    store.slug_reads = 0
    for i, start in enumerate(SLOTS[:6]):
        assert book(api, start, email=f"ivy{i}@example.test").status == 201
    assert store.slug_reads == reads


def test_a_calendar_changed_in_this_process_is_booked_as_it_is_now(queue: Any, clock: Any) -> None:
    store = CountingStore()
    api = make_api(store, queue, clock)
    assert book(api, SLOTS[0]).status == 201  # cached now
    # the host moves the calendar to Bob: the next booking is Bob's, not Alice's
    assert api.put_calendar("acme", "p", calendar_body("alice", [member("bob")])).status == 200
    second = book(api, SLOTS[2], email="ann@example.test")
    assert second.status == 201, second.body
    rows = [e for e in store.all("schedule") if e["RowKey"].startswith("booking|")]
    assert sorted(r["host"] for r in rows) == ["alice", "bob"]


def test_a_renamed_slug_is_gone_at_once(queue: Any, clock: Any) -> None:
    api = make_api(InMemoryEntityStore(), queue, clock)
    assert book(api, SLOTS[0]).status == 201
    assert api.put_calendar("acme", "p", calendar_body("alice-new", [member("alice")])).status == 200
    gone = book(api, SLOTS[2], email="ann@example.test")
    assert gone.status == 404, gone.body
    assert api.book("alice-new", SLOTS[2], email="ann@example.test").status == 201


def test_a_fresh_copy_lasts_ttl_seconds_then_is_read_again() -> None:
    store, ticks = CountingStore(), Ticks()
    api_store_record(store, "cal-a", "alice")
    cache = CalendarCache(store, ttl_seconds=5, monotonic=ticks)
    assert cache.by_slug("cal-a") is not None
    ticks.now += 4.9
    assert cache.by_slug("cal-a") is not None
    assert store.slug_reads == 1
    ticks.now += 0.2
    cache.by_slug("cal-a")
    assert store.slug_reads == 2


def test_a_missing_slug_is_not_cached() -> None:
    store = CountingStore()
    cache = CalendarCache(store, ttl_seconds=5, monotonic=Ticks())
    assert cache.by_slug("cal-a") is None
    api_store_record(store, "cal-a", "alice")
    assert cache.by_slug("cal-a") is not None  # a calendar created just now is bookable at once


def test_a_read_that_a_change_overtook_is_not_kept() -> None:
    store = CountingStore()
    api_store_record(store, "cal-a", "alice")
    cache = CalendarCache(store, ttl_seconds=5, monotonic=Ticks())

    def change() -> None:  # another thread saves the calendar while this read is on the wire
        api_store_record(store, "cal-a", "bob")
        calendar_changed("cal-a")

    store.during_read = change
    raced = cache.by_slug("cal-a")  # the copy read before the change (it raced), not to be kept
    assert raced is not None and list(raced.config.users) == ["alice"]
    record = cache.by_slug("cal-a")
    assert record is not None and list(record.config.users) == ["bob"]
    assert store.slug_reads == 2


def test_only_size_calendars_are_kept() -> None:
    store = CountingStore()
    for n in range(3):
        api_store_record(store, f"cal-{n}", "alice")
    cache = CalendarCache(store, ttl_seconds=5, size=2, monotonic=Ticks())
    for n in (0, 1, 2, 0):
        cache.by_slug(f"cal-{n}")
    assert store.slug_reads == 4  # cal-0 was dropped for cal-2 (least recently used)


def test_threads_share_one_copy() -> None:
    store = CountingStore()
    api_store_record(store, "cal-a", "alice")
    cache = CalendarCache(store, ttl_seconds=5, monotonic=Ticks())
    cache.by_slug("cal-a")
    seen: list[Any] = []
    threads = [threading.Thread(target=lambda: seen.append(cache.by_slug("cal-a"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.slug_reads == 1 and len({id(r) for r in seen}) == 1


def api_store_record(store: InMemoryEntityStore, slug: str, user: str) -> None:
    """The slug row of a one-member calendar, as ``put_calendar`` writes it."""
    from shared.domain.calendar_config import CalendarConfig

    config = CalendarConfig.from_dict(calendar_body(slug, [member(user)]))
    record = calendar_repo.CalendarRecord("acme", slug, config, {user: {"name": user, "email": f"{user}@x.test"}})
    store.upsert(calendar_repo.SLUGS, calendar_repo.slug_entity(record))
