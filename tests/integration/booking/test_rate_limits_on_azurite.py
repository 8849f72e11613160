"""Rate-limit counters on real Table storage (Azurite): two instances, racing, count together (rule 29)."""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from shared.adapters.rate_limit_store import TableRateLimiter
from shared.domain.rate_limits import Limit
from shared.errors import RateLimited
from tests.fakes import FixedClock

THREADS_PER_INSTANCE = 8


def _store(connection_string: str):
    from azure.data.tables import TableServiceClient

    from shared.adapters.table_store import TableEntityStore

    return TableEntityStore(TableServiceClient.from_connection_string(connection_string))


def test_two_instances_racing_on_one_key_let_exactly_the_limit_through(storage_connection_string):
    clock = FixedClock()
    instances = [TableRateLimiter(_store(storage_connection_string), clock) for _ in range(2)]
    limit = Limit("RATE_LIMIT_BOOKINGS_PER_CLIENT", 5, 600)
    key = f"203.0.113.{uuid.uuid4().int % 250}-{uuid.uuid4().hex}"
    start = threading.Barrier(2 * THREADS_PER_INSTANCE)

    def hit(i: int) -> bool:
        start.wait()
        try:
            instances[i % 2].hit(limit, key)
            return True
        except RateLimited:
            return False

    with ThreadPoolExecutor(max_workers=2 * THREADS_PER_INSTANCE) as pool:
        results = list(pool.map(hit, range(2 * THREADS_PER_INSTANCE)))
    assert results.count(True) == 5
    # the next window starts over, for both instances
    clock.advance(minutes=10)
    instances[0].hit(limit, key)
    instances[1].hit(limit, key)


def test_two_instances_booking_one_calendar_at_once_store_exactly_its_limit(storage_connection_string):
    """The calendar's counter rides in each booking's own transaction (issue 15 (11)): two instances, each
    with its own cache of the counter's ETag, racing on one personal calendar store exactly the limit."""
    from azure.storage.queue import QueueServiceClient

    from shared.adapters.queue_store import StorageMessageQueue
    from shared.bootstrap import Container, install
    from shared.errors import Conflict
    from shared.settings import Settings
    from shared.usecases.booking import BookingRequest, create_booking
    from tests.unit.booking.helpers import SIGNING_KEY, Api, calendar_body, hours, member

    clock = FixedClock()
    queue = StorageMessageQueue(QueueServiceClient.from_connection_string(storage_connection_string))
    settings = {"RATE_LIMIT_BOOKINGS_PER_CALENDAR": "5/1h", "RATE_LIMIT_CONFIRMATIONS_PER_INVITEE": "0"}
    ws, slug = f"ws{uuid.uuid4().hex[:10]}", f"race-{uuid.uuid4().hex[:10]}"
    api = Api(_store(storage_connection_string), queue, clock, settings=settings)
    all_day = {d: [{"start": "00:00", "end": "24:00"}] for d in ("monday", "tuesday", "wednesday", "thursday",
                                                                 "friday", "saturday", "sunday")}
    api.setup(ws, ["alice"], {"p": calendar_body(slug, [member("alice")], weekly_hours=all_day)})
    deps = [Container(settings=Settings({"LINK_SIGNING_KEY": SIGNING_KEY, **settings}),
                      store=_store(storage_connection_string), queue=queue, clock=clock).booking_deps()
            for _ in range(2)]
    install(None)
    slots = hours("2026-11-23T10:00:00Z", 2 * THREADS_PER_INSTANCE)
    start = threading.Barrier(2 * THREADS_PER_INSTANCE)

    def book(i: int) -> str:
        req = BookingRequest(start=datetime.fromisoformat(slots[i].replace("Z", "+00:00")), name="Ivy",
                             email=f"ivy{i}@example.test", timezone="UTC")
        start.wait()
        try:
            create_booking(deps[i % 2], slug, req)
            return "booked"
        except RateLimited:
            return "limited"
        except Conflict:
            return "conflict"

    with ThreadPoolExecutor(max_workers=2 * THREADS_PER_INSTANCE) as pool:
        results = list(pool.map(book, range(2 * THREADS_PER_INSTANCE)))
    assert results.count("booked") == 5 and results.count("limited") == 2 * THREADS_PER_INSTANCE - 5, results
    store = _store(storage_connection_string)
    rows = list(store.query("schedule", f"{ws}|alice"))
    assert len([r for r in rows if r["RowKey"].startswith("booking|")]) == 5
    assert [r["count"] for r in rows if r["RowKey"].startswith("limit|")] == [5]
