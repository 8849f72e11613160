"""What the manage-token holder can do: read, cancel, reschedule."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shared.domain.availability import Interval
from shared.domain.model import (
    BookingStatus,
    LinkState,
)
from shared.domain.slot_locks import BookingCells, booking_cells, buffer_tail
from shared.errors import (
    ConcurrencyConflict,
    Conflict,
    NotFound,
    SlotTaken,
)
from shared.ports import iso_utc
from shared.repositories import bookings as repo
from shared.repositories import calendars as calendar_repo
from shared.repositories.bookings import Booking
from shared.repositories.optimistic import optimistic_update, starting_with
from shared.usecases import booking_events
from shared.usecases.booking.deps import AWAITING, BookingDeps
from shared.usecases.booking.locks import cells_of, lock_ops, lock_rows, rollback, transact_locks
from shared.usecases.booking.slots import check_start, member_free
from shared.usecases.booking.views import booking_view, load_booking, manage_token

log = logging.getLogger("bookbridge.booking")


def get_booking(deps: BookingDeps, booking_id: str, token: str | None) -> dict[str, Any]:
    """The booking (one point read); 404 for a wrong token or id."""
    return booking_view(load_booking(deps, booking_id, token))


def cancel_booking(deps: BookingDeps, booking_id: str, token: str | None) -> dict[str, Any]:
    """Cancel: booking update + its locks deleted in ONE transaction in the primary partition, then the
    other hosts' locks; idempotent for an already cancelled booking."""
    return booking_view(cancel_loaded(deps, load_booking(deps, booking_id, token)))


def cancel_loaded(deps: BookingDeps, b: Booking) -> Booking:
    """Cancel ``b`` (as loaded by the caller): the invitee's cancel, or the host's delete in Outlook (rule 19)."""
    if b.status == BookingStatus.CANCELLED.value:
        return b
    now = deps.clock.now()
    if b.start_utc <= now:
        raise Conflict("the booking has already started and can no longer be cancelled")
    store = deps.store

    def cancel(current: Booking) -> tuple[Booking, Booking | None]:
        if current.status == BookingStatus.CANCELLED.value:
            return current, None  # cancelled meanwhile by another request
        updated = replace(current, status=BookingStatus.CANCELLED.value, revision=current.revision + 1,
                          updated_at=iso_utc(now))
        own = [r for r in lock_rows(store, b.workspace, b.host, cells_of(current).all) if r.get("booking_id") == b.id]
        ops: list[Any] = [("update", {**repo.booking_to_entity(updated), "_etag": current.etag})]
        ops += [("delete", {"PartitionKey": current.partition, "RowKey": r["RowKey"], "_etag": r.get("_etag")})
                for r in own]
        store.transact(repo.SCHEDULE, ops)
        return current, updated

    b, updated = optimistic_update(starting_with(b, lambda: _reload(deps, b)), cancel, what="the booking",
                                   races=(ConcurrencyConflict, NotFound))
    if updated is None:
        return b
    rollback(store, b.workspace, [u for u in b.host_ids if u != b.host], cells_of(b).all, b.id)
    if b.link_state == LinkState.AWAITING_CONNECTION.value:
        entity = repo.backfill_entity(b)
        store.delete(repo.BACKFILL, entity["PartitionKey"], entity["RowKey"])
    booking_events.booking_cancelled(deps.queue, b.workspace, b.host, b.id, updated.revision, store=deps.store)
    log.info("booking %s cancelled (revision %d)", b.id, updated.revision)
    return updated


def _reload(deps: BookingDeps, b: Booking) -> Booking:
    """``b`` as stored now; ``NotFound`` when it is gone."""
    fresh = repo.get_booking(deps.store, b.workspace, b.host, b.id)
    if fresh is None:
        raise NotFound("no such booking")
    return fresh


@dataclass(frozen=True)
class _Move:
    """A reschedule of ``booking`` to ``slot``: the cells to lock and to release, the kept cells whose kind
    changes (meeting <-> buffer), and the request's lock id."""

    booking: Booking
    slot: Interval
    now: datetime
    cells: BookingCells
    tail_minutes: int
    op: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def add(self) -> list[str]:
        old = set(cells_of(self.booking).all)
        return [c for c in self.cells.all if c not in old]

    @property
    def drop(self) -> list[str]:
        new = set(self.cells.all)
        return [c for c in cells_of(self.booking).all if c not in new]

    @property
    def relabel(self) -> list[str]:
        old = cells_of(self.booking)
        return [c for c in self.cells.all if c in set(old.all) and old.is_buffer(c) != self.cells.is_buffer(c)]

    def moved(self, current: Booking) -> Booking:
        """``current`` at the new time, one revision later (keeping the times it had, for the notice)."""
        previous = {"previous_start_utc": iso_utc(current.start_utc), "previous_end_utc": iso_utc(current.end_utc)}
        return replace(current, start_utc=self.slot.start, end_utc=self.slot.end, revision=current.revision + 1,
                       updated_at=iso_utc(self.now), lock_tail_minutes=self.tail_minutes or None,
                       extra={**current.extra, **previous})


def reschedule_booking(deps: BookingDeps, booking_id: str, token: str | None, start: datetime) -> dict[str, Any]:
    """Move a booking to ``start`` (same rules as a new booking, same hosts, same id, revision + 1).

    The new cells are locked first (other hosts, then the primary together with the booking update),
    then the old cells are released. The booking's own old time does not block the new one.
    """
    b = load_booking(deps, booking_id, token)
    if b.status != BookingStatus.CONFIRMED.value:
        raise Conflict("the booking is cancelled and cannot be rescheduled")
    now = deps.clock.now()
    if b.start_utc <= now:
        raise Conflict("the booking has already started and can no longer be rescheduled")
    if deps.max_reschedules is not None and b.revision - 1 >= deps.max_reschedules:
        raise Conflict(f"this booking was already rescheduled {deps.max_reschedules} times; cancel it and book again")
    record = calendar_repo.get_calendar(deps.store, b.workspace, b.calendar)
    if record is None:
        raise Conflict("the booking's calendar no longer exists")
    slot = check_start(record.config, start, now)
    if slot.start == b.start_utc and slot.end == b.end_utc:
        return {**booking_view(b), "manage_token": manage_token(deps.signer, b)}
    old = Interval(b.start_utc, b.end_utc)
    free = member_free(deps, record, b.host_ids, slot, exclude=b.id, ignore=old)
    if len(free) != len(b.host_ids):
        raise Conflict("the new time is not free for the host")
    tail = buffer_tail(record.config.buffer_before_minutes, record.config.buffer_after_minutes)
    move = _Move(b, slot, now, booking_cells(slot.start, slot.end, tail), int(tail.total_seconds()) // 60)
    updated = _lock_and_move(deps, move)
    _after_move(deps, move, updated)
    return {**booking_view(updated), "manage_token": manage_token(deps.signer, updated)}


def _lock_and_move(deps: BookingDeps, move: _Move) -> Booking:
    """Lock the new cells (other hosts first, then the primary with the booking update); undo on failure."""
    store, b = deps.store, move.booking
    ws, add, now = b.workspace, move.add, move.now
    updated = move.moved(b)
    taken: list[str] = []
    try:
        for user in sorted(u for u in b.host_ids if u != b.host):
            if add:
                transact_locks(store, ws, user, lock_ops(ws, user, updated, move.cells, add, now, move.op), add, now)
            taken.append(user)
        return _commit_move(deps, move)
    except SlotTaken:
        rollback(store, ws, taken, add, b.id, move.op)
        raise Conflict("the new time is no longer free: it was just booked") from None
    except (ConcurrencyConflict, NotFound):
        rollback(store, ws, taken, add, b.id, move.op)
        raise Conflict("the booking was changed at the same time; reload it and try again") from None
    except BaseException as exc:
        # The primary transaction may have committed before the error reached us: never undo that.
        try:
            committed = repo.get_booking(store, ws, b.host, b.id)
        except Exception:  # noqa: BLE001 - unknown: keep the locks (they turn stale if unused)
            raise exc from None
        if committed is None or committed.revision != updated.revision:
            rollback(store, ws, taken, add, b.id, move.op)
            raise exc
        return committed


def _commit_move(deps: BookingDeps, move: _Move) -> Booking:
    """The primary partition: the booking update and its new locks in ONE transaction.

    A worker may write its own fields (link, Graph ids) meanwhile: go on from its version, unless the
    booking itself was moved or cancelled (then ``ConcurrencyConflict``).
    """
    b, store = move.booking, deps.store

    def unmoved() -> Booking:
        fresh = repo.get_booking(store, b.workspace, b.host, b.id)
        if (fresh is None or fresh.status != b.status or fresh.revision != b.revision
                or fresh.start_utc != b.start_utc):
            raise ConcurrencyConflict("the booking was moved or cancelled meanwhile")
        return fresh

    def commit(current: Booking) -> Booking:
        updated = move.moved(current)
        ops = [("update", {**repo.booking_to_entity(updated), "_etag": current.etag})]
        ops += lock_ops(b.workspace, b.host, updated, move.cells, move.add, move.now, move.op)
        transact_locks(store, b.workspace, b.host, ops, move.add, move.now)
        return updated

    return optimistic_update(starting_with(b, unmoved), commit, what="the booking")


def _after_move(deps: BookingDeps, move: _Move, updated: Booking) -> None:
    """Release the old cells, move the backfill index row, tell the workers."""
    store, b = deps.store, move.booking
    rollback(store, b.workspace, b.host_ids, move.drop, b.id)
    for user in b.host_ids:  # kept cells that turned from meeting to buffer or back (availability reads the kind)
        for cell in move.relabel:
            store.upsert(repo.SCHEDULE, repo.lock_entity(b.workspace, user, cell, updated, move.now,
                                                         buffer=move.cells.is_buffer(cell)))
    if AWAITING in (b.link_state, updated.link_state):
        before = repo.backfill_entity(b)
        if updated.link_state == AWAITING:
            repo.index_awaiting(store, updated)
        store.delete(repo.BACKFILL, before["PartitionKey"], before["RowKey"])
    booking_events.booking_rescheduled(deps.queue, b.workspace, b.host, b.id, updated.revision, updated.link_state,
                                       store=deps.store)
    log.info("booking %s rescheduled (revision %d)", b.id, updated.revision)
