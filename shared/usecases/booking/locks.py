"""Slot locks: one ``lock|{cell}`` row per 5-minute cell, written with the booking in ONE entity-group
transaction; stale locks of crashed intakes are cleared, failed collective bookings rolled back."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from shared.domain.model import (
    BookingStatus,
)
from shared.domain.slot_locks import GRID, BookingCells, booking_cells
from shared.errors import (
    ConcurrencyConflict,
    NotFound,
    SlotTaken,
)
from shared.ports import EntityExists, EntityStore, TransactionOp, parse_iso_utc
from shared.repositories import bookings as repo
from shared.repositories.bookings import Booking
from shared.usecases.availability import cell_start
from shared.usecases.booking.deps import LOCK_ATTEMPTS, STALE_LOCK_AGE

log = logging.getLogger("bookbridge.booking")


def tail_of(booking: Booking) -> timedelta:
    """How far past its end ``booking`` locks (its buffer cells: ``shared.domain.slot_locks``)."""
    return timedelta(minutes=booking.lock_tail_minutes or 0)


def cells_of(booking: Booking) -> BookingCells:
    """The cells ``booking`` holds: its meeting's and its buffer tail's."""
    return booking_cells(booking.start_utc, booking.end_utc, tail_of(booking))


def lock_ops(ws: str, user: str, booking: Booking, cells: BookingCells, wanted: list[str], now: datetime,
             op: str | None) -> list[Any]:
    """``create`` ops of ``booking``'s lock rows for ``wanted`` (cells of ``cells``) in ``user``'s partition."""
    return [("create", repo.lock_entity(ws, user, c, booking, now, op, buffer=cells.is_buffer(c))) for c in wanted]


def lock_rows(store: EntityStore, ws: str, user: str, cells: list[str]) -> list[dict[str, Any]]:
    wanted = set(cells)
    rows = store.query(repo.SCHEDULE, repo.schedule_pk(ws, user), row_key_from=cells[0],
                       row_key_to=cells[-1] + "~", select=["booking_id", "booking_host", "created_at", "lock_op"])
    return [r for r in rows if r["RowKey"] in wanted]


def lock_is_stale(store: EntityStore, ws: str, row: dict[str, Any], now: datetime,
                   seen: dict[tuple[str, str], Booking | None]) -> bool:
    created = row.get("created_at")
    if created and now - parse_iso_utc(created) < STALE_LOCK_AGE:
        return False
    bid, host = row.get("booking_id"), row.get("booking_host")
    if not bid or not host:
        return True
    if (host, bid) not in seen:
        seen[(host, bid)] = repo.get_booking(store, ws, host, bid)
    b = seen[(host, bid)]
    if b is None or b.status != BookingStatus.CONFIRMED.value:
        return True
    start = cell_start(row["RowKey"])
    return not (b.start_utc < start + GRID and start < b.end_utc + tail_of(b))


def clear_stale(store: EntityStore, ws: str, user: str, cells: list[str], now: datetime) -> bool:
    """After a failed lock: remove stale locks in ``cells``; True when a retry may succeed.

    Rows of the same booking are judged like any other (a concurrent reschedule of it holds fresh ones).
    """
    seen: dict[tuple[str, str], Booking | None] = {}
    pk = repo.schedule_pk(ws, user)
    for row in lock_rows(store, ws, user, cells):
        if not lock_is_stale(store, ws, row, now, seen):
            return False
        try:
            store.delete(repo.SCHEDULE, pk, row["RowKey"], row.get("_etag"))
            log.warning("removed stale lock in %s for booking %s", pk, row.get("booking_id"))
        except ConcurrencyConflict:
            return False
    return True


def transact_locks(store: EntityStore, ws: str, user: str, ops: list[Any], cells: list[str],
                    now: datetime) -> list[str | None] | None:
    for attempt in range(LOCK_ATTEMPTS):
        try:
            return store.transact(repo.SCHEDULE, ops)
        except EntityExists:
            if attempt == LOCK_ATTEMPTS - 1 or not cells or not clear_stale(store, ws, user, cells, now):
                raise SlotTaken() from None
    raise SlotTaken()


def release_locks(store: EntityStore, ws: str, user: str, cells: list[str], booking_id: str,
                  op: str | None = None) -> None:
    """Delete ``booking_id``'s lock rows among ``cells`` in ``user``'s partition (others are left alone);
    with ``op``, only the rows that request took."""
    if not cells:
        return
    pk = repo.schedule_pk(ws, user)
    rows = [r for r in lock_rows(store, ws, user, cells)
            if r.get("booking_id") == booking_id and (op is None or r.get("lock_op") == op)]
    if not rows:
        return
    ops: list[TransactionOp] = [("delete", {"PartitionKey": pk, "RowKey": r["RowKey"], "_etag": r.get("_etag")})
                                for r in rows]
    try:
        store.transact(repo.SCHEDULE, ops)
    except (NotFound, ConcurrencyConflict):
        for r in rows:
            try:
                store.delete(repo.SCHEDULE, pk, r["RowKey"], r.get("_etag"))
            except ConcurrencyConflict:
                pass


def rollback(store: EntityStore, ws: str, users: Iterable[str], cells: list[str], booking_id: str,
              op: str | None = None) -> None:
    for user in users:
        try:
            release_locks(store, ws, user, cells, booking_id, op)
        except Exception as exc:  # noqa: BLE001 - leftovers become stale after two minutes
            log.warning("rollback of locks for booking %s in %s|%s failed: %s", booking_id, ws, user,
                        type(exc).__name__)


def commit_new(store: EntityStore, booking: Booking, now: datetime,
               extra: list[TransactionOp] | None = None) -> list[str | None] | None:
    """Lock every host and write the booking (see the module doc); ``SlotTaken`` when the time is taken.

    ``extra`` joins the booking's own transaction (a rate-limit counter, ETag-guarded: its condition
    failing is ``ConcurrencyConflict``, nothing stored). Returns that transaction's new ETags, in order."""
    ws = booking.workspace
    held = cells_of(booking)
    cells = held.all
    secondaries = sorted(u for u in booking.host_ids if u != booking.host)
    op = uuid.uuid4().hex
    taken: list[str] = []
    try:
        for user in secondaries:
            transact_locks(store, ws, user, lock_ops(ws, user, booking, held, cells, now, op), cells, now)
            taken.append(user)
    except BaseException:
        rollback(store, ws, taken, cells, booking.id, op)
        raise
    own: list[TransactionOp] = [("create", repo.booking_to_entity(booking))]
    own += lock_ops(ws, booking.host, booking, held, cells, now, op)
    try:
        return transact_locks(store, ws, booking.host, own + list(extra or []), cells, now)
    except (SlotTaken, ConcurrencyConflict):  # refused as a whole: nothing was written
        rollback(store, ws, taken, cells, booking.id, op)
        raise
    except BaseException as exc:
        # The commit may have happened before the error reached us: never roll back a booking.
        try:
            committed = repo.get_booking(store, ws, booking.host, booking.id) is not None
        except Exception:  # noqa: BLE001 - unknown: keep the locks (they turn stale if unused)
            raise exc from None
        if committed:
            return None
        rollback(store, ws, taken, cells, booking.id, op)
        raise exc
