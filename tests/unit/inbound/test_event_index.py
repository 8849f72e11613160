"""The inbound worker finds an event's booking with point reads (``shared.repositories.event_index``), not a
scan of the host's bookings for every change to any event of the host's calendar; a host whose bookings
predate the index is indexed by one scan, once."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.repositories import bookings as repo
from shared.repositories import event_index
from tests.fakes import InMemoryEntityStore
from tests.unit.communications.helpers import make_booking


class CountingStore(InMemoryEntityStore):
    """Counts partition queries of ``schedule`` (the scan the index spares)."""

    def __init__(self) -> None:
        super().__init__()
        self.scans = 0

    def query(self, table: str, partition_key: str, **kw: Any) -> Any:
        if table == repo.SCHEDULE:
            self.scans += 1
        return super().query(table, partition_key, **kw)


def _booking(store: InMemoryEntityStore, n: int, event_id: str | None) -> str:
    start = datetime(2030, 1, 1, 9, tzinfo=UTC) + timedelta(hours=n)
    booking = make_booking("ws", "host", "cal", start, id=f"{n:032x}", graph_event_id=event_id)
    store.upsert(repo.SCHEDULE, repo.booking_to_entity(booking))
    return booking.id


def test_old_bookings_are_indexed_once_then_every_lookup_is_point_reads() -> None:
    store = CountingStore()
    ids = {f"AAMkAGI2/event+{n}==": _booking(store, n, f"AAMkAGI2/event+{n}==") for n in range(30)}
    _booking(store, 99, None)
    assert event_index.lookup(store, "ws", "host", "AAMk-someone-elses-meeting") is None
    assert store.scans == 1  # the one-time indexing scan
    for event_id, booking_id in ids.items():
        found = event_index.lookup(store, "ws", "host", event_id)
        assert found is not None and found.id == booking_id
    assert event_index.lookup(store, "ws", "host", "AAMk-another-own-meeting") is None
    assert store.scans == 1  # no scan after it: hits and misses alike


def test_a_row_naming_a_booking_without_that_event_is_not_a_match() -> None:
    """A crash between the index write and the booking's write, or an event replaced since."""
    store = CountingStore()
    booking_id = _booking(store, 1, "AAMk-new")
    event_index.record(store, "ws", "host", "AAMk-old", booking_id)
    event_index.record(store, "ws", "host", "AAMk-new", booking_id)
    assert event_index.lookup(store, "ws", "host", "AAMk-old") is None
    found = event_index.lookup(store, "ws", "host", "AAMk-new")
    assert found is not None and found.id == booking_id
    assert event_index.row_key("AAMkAGI2/x+y==").isalnum()  # a RowKey may hold none of / \\ # ?
