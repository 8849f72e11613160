"""Which booking an Outlook event belongs to (table ``eventbookings``): the inbound worker's point lookup.

PK ``{ws}|{host}``, RK the SHA-256 (hex) of the Graph event id (an id holds characters a RowKey may not), with
``booking_id``. The meeting worker writes the row BEFORE the booking records its ``graph_event_id`` (a crash in
between leaves a row naming a booking without that event: :func:`lookup` checks the booking). A host whose
bookings predate the index is indexed once, by one scan of its booking rows, on its first lookup; the row
``indexed`` then says that a miss is a miss (a change to one of the host's own meetings, not a booking's).
"""
from __future__ import annotations

import hashlib

from shared.ports import EntityStore
from shared.repositories import bookings as repo
from shared.repositories.bookings import Booking

TABLE = "eventbookings"
INDEXED_RK = "indexed"
#: Booking rows of one host read at most by its one-time indexing scan.
MAX_HOST_BOOKINGS = 5000


def row_key(event_id: str) -> str:
    """The RowKey of an event id."""
    return hashlib.sha256(event_id.encode("utf-8")).hexdigest()


def record(store: EntityStore, workspace: str, host: str, event_id: str, booking_id: str) -> None:
    """Note that ``event_id`` (in ``host``'s mailbox) is the event of ``booking_id`` (idempotent)."""
    store.upsert(TABLE, {"PartitionKey": repo.schedule_pk(workspace, host), "RowKey": row_key(event_id),
                         "booking_id": booking_id})


def lookup(store: EntityStore, workspace: str, host: str, event_id: str) -> Booking | None:
    """The host's booking whose Outlook event is ``event_id`` (primary host's partition), or ``None``."""
    pk = repo.schedule_pk(workspace, host)
    row = store.get(TABLE, pk, row_key(event_id))
    if row is not None:
        booking = repo.get_booking(store, workspace, host, str(row.get("booking_id") or ""))
        if booking is not None and booking.graph_event_id == event_id:
            return booking
    if store.get(TABLE, pk, INDEXED_RK) is not None:
        return None
    return _index_host(store, workspace, host, event_id)


def _index_host(store: EntityStore, workspace: str, host: str, event_id: str) -> Booking | None:
    """One scan of the host's booking rows: every event recorded in the index, the one asked for returned."""
    prefix, found, read = repo.BOOKING_PREFIX, None, 0
    for row in store.query(repo.SCHEDULE, repo.schedule_pk(workspace, host), row_key_from=prefix,
                           row_key_to=prefix[:-1] + "}", limit=MAX_HOST_BOOKINGS):
        read += 1
        graph_event_id = str(row.get("graph_event_id") or "")
        if graph_event_id:
            record(store, workspace, host, graph_event_id, str(row.get("id") or ""))
            if graph_event_id == event_id:
                found = repo.booking_from_entity(row)
    if read < MAX_HOST_BOOKINGS:  # every booking row was read: later misses need no scan
        store.upsert(TABLE, {"PartitionKey": repo.schedule_pk(workspace, host), "RowKey": INDEXED_RK})
    return found


__all__ = ["INDEXED_RK", "MAX_HOST_BOOKINGS", "TABLE", "lookup", "record", "row_key"]
