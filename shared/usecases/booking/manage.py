"""What the manage-token holder can do: read, cancel, reschedule."""
from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from shared.domain.availability import Interval
from shared.domain.model import (
    BookingStatus,
    LinkState,
)
from shared.domain.slot_locks import lock_cells
from shared.errors import (
    ConcurrencyConflict,
    Conflict,
    NotFound,
)
from shared.ports import iso_utc
from shared.repositories import bookings as repo
from shared.repositories import calendars as calendar_repo
from shared.repositories.bookings import Booking
from shared.usecases import booking_events
from shared.usecases.booking.deps import AWAITING, BookingDeps, SlotTaken
from shared.usecases.booking.locks import lock_rows, rollback, transact_locks
from shared.usecases.booking.slots import check_start, member_free
from shared.usecases.booking.views import booking_view, load_booking, manage_token

log = logging.getLogger("bookbridge.booking")


def get_booking(deps: BookingDeps, booking_id: str, token: str | None) -> dict[str, Any]:
    """The booking (one point read); 404 for a wrong token or id."""
    return booking_view(load_booking(deps, booking_id, token))


def cancel_booking(deps: BookingDeps, booking_id: str, token: str | None) -> dict[str, Any]:
    """Cancel: booking update + its locks deleted in ONE transaction in the primary partition, then the
    other hosts' locks; idempotent for an already cancelled booking."""
    b = load_booking(deps, booking_id, token)
    if b.status == BookingStatus.CANCELLED.value:
        return booking_view(b)
    now = deps.clock.now()
    if b.start_utc <= now:
        raise Conflict("the booking has already started and can no longer be cancelled")
    store = deps.store
    cells = lock_cells(b.start_utc, b.end_utc)
    for _ in range(4):
        updated = replace(b, status=BookingStatus.CANCELLED.value, revision=b.revision + 1, updated_at=iso_utc(now))
        own = [r for r in lock_rows(store, b.workspace, b.host, cells) if r.get("booking_id") == b.id]
        ops: list[Any] = [("update", {**repo.booking_to_entity(updated), "_etag": b.etag})]
        ops += [("delete", {"PartitionKey": b.partition, "RowKey": r["RowKey"], "_etag": r.get("_etag")})
                for r in own]
        try:
            store.transact(repo.SCHEDULE, ops)
            break
        except (ConcurrencyConflict, NotFound):
            fresh = repo.get_booking(store, b.workspace, b.host, b.id)
            if fresh is None:
                raise NotFound("no such booking") from None
            if fresh.status == BookingStatus.CANCELLED.value:
                return booking_view(fresh)
            b = fresh
            cells = lock_cells(b.start_utc, b.end_utc)
    else:
        raise ConcurrencyConflict("the booking kept changing; retry")
    rollback(store, b.workspace, [u for u in b.host_ids if u != b.host], cells, b.id)
    if b.link_state == LinkState.AWAITING_CONNECTION.value:
        entity = repo.backfill_entity(b)
        store.delete(repo.BACKFILL, entity["PartitionKey"], entity["RowKey"])
    booking_events.booking_cancelled(deps.queue, b.workspace, b.host, b.id, updated.revision)
    log.info("booking %s cancelled (revision %d)", b.id, updated.revision)
    return booking_view(updated)


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
    store = deps.store
    record = calendar_repo.get_calendar(store, b.workspace, b.calendar)
    if record is None:
        raise Conflict("the booking's calendar no longer exists")
    slot = check_start(record.config, start, now)
    if slot.start == b.start_utc and slot.end == b.end_utc:
        return {**booking_view(b), "manage_token": manage_token(deps.signer, b)}
    old = Interval(b.start_utc, b.end_utc)
    hosts = b.host_ids
    free = member_free(deps, record, hosts, slot, exclude=b.id, ignore=old)
    if len(free) != len(hosts):
        raise Conflict("the new time is not free for the host")

    def moved(current: Booking) -> Booking:
        previous = {"previous_start_utc": iso_utc(current.start_utc), "previous_end_utc": iso_utc(current.end_utc)}
        return replace(current, start_utc=slot.start, end_utc=slot.end, revision=current.revision + 1,
                       updated_at=iso_utc(now), extra={**current.extra, **previous})

    updated = moved(b)
    old_cells = lock_cells(old.start, old.end)
    new_cells = lock_cells(slot.start, slot.end)
    add = [c for c in new_cells if c not in set(old_cells)]
    drop = [c for c in old_cells if c not in set(new_cells)]
    ws = b.workspace
    op = uuid.uuid4().hex
    taken: list[str] = []
    try:
        for user in sorted(u for u in hosts if u != b.host):
            if add:
                ops = [("create", repo.lock_entity(ws, user, c, updated, now, op)) for c in add]
                transact_locks(store, ws, user, ops, add, now)
            taken.append(user)
        current = b
        for attempt in range(4):
            updated = moved(current)
            ops = [("update", {**repo.booking_to_entity(updated), "_etag": current.etag})]
            ops += [("create", repo.lock_entity(ws, b.host, c, updated, now, op)) for c in add]
            try:
                transact_locks(store, ws, b.host, ops, add, now)
                break
            except ConcurrencyConflict:
                # A worker wrote its own fields (link, Graph ids) meanwhile: go on from its version,
                # unless the booking itself was moved or cancelled.
                fresh = repo.get_booking(store, ws, b.host, b.id)
                if (attempt == 3 or fresh is None or fresh.status != b.status or fresh.revision != b.revision
                        or fresh.start_utc != b.start_utc):
                    raise
                current = fresh
    except SlotTaken:
        rollback(store, ws, taken, add, b.id, op)
        raise Conflict("the new time is no longer free: it was just booked") from None
    except (ConcurrencyConflict, NotFound):
        rollback(store, ws, taken, add, b.id, op)
        raise Conflict("the booking was changed at the same time; reload it and try again") from None
    except BaseException as exc:
        # The primary transaction may have committed before the error reached us: never undo that.
        try:
            committed = repo.get_booking(store, ws, b.host, b.id)
        except Exception:  # noqa: BLE001 - unknown: keep the locks (they turn stale if unused)
            raise exc from None
        if committed is None or committed.revision != updated.revision:
            rollback(store, ws, taken, add, b.id, op)
            raise exc
        updated = committed
    rollback(store, ws, hosts, drop, b.id)
    if AWAITING in (b.link_state, updated.link_state):
        before = repo.backfill_entity(b)
        if updated.link_state == AWAITING:
            repo.index_awaiting(store, updated)
        store.delete(repo.BACKFILL, before["PartitionKey"], before["RowKey"])
    booking_events.booking_rescheduled(deps.queue, ws, b.host, b.id, updated.revision, updated.link_state)
    log.info("booking %s rescheduled (revision %d)", b.id, updated.revision)
    return {**booking_view(updated), "manage_token": manage_token(deps.signer, updated)}
