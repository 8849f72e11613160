"""Rate-limit counters on real Table storage (Azurite): two instances, racing, count together (rule 29)."""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

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
