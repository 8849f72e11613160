"""The index of due work (table ``reconciledue``): bookings whose next attempt has a time.

A booking that is ``retrying``, or whose Graph objects could not be brought in line (``graph_sync_error``
after a transient failure), gets one row ``{next_attempt_at}|{ws}|{host}|{booking_id}`` in partition
``due`` (``shared.domain.reconcile.due_entity``), written BEFORE the booking records ``next_attempt_at``
(a crash in between leaves a row that wakes the reconciler once for nothing). The timer sweep reads only
the rows that are due (a RowKey range ending at now), so its cost follows the work, never the bookings:
each due row is claimed (ETag-conditional ``enqueued_at``) and a ``meetings`` ``reconcile`` message
naming it (``due_row``) is sent. The reconciler deletes the row once the booking no longer waits for it
(converged, or a later attempt scheduled under a new key). A claim whose message was lost is sent again
after ``reenqueue_after``.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain import reconcile as rules
from shared.errors import ConcurrencyConflict, NotFound
from shared.ports import EntityStore, MessageQueue, iso_utc
from shared.repositories.bookings import Booking
from shared.usecases import booking_events

log = logging.getLogger("bookbridge.reconcile")

#: Due rows handled per sweep run at most (earliest first); the rest waits for the next run.
MAX_DUE_ROWS = 1000


@dataclass
class DueRun:
    """What one pass over the due rows did."""

    due: int = 0         # rows due now
    enqueued: int = 0
    waiting: int = 0     # enqueued moments ago: left to the worker
    lost_claims: int = 0
    dropped: int = 0     # malformed rows removed
    cut_short: bool = False


def schedule(store: EntityStore, booking: Booking, due_at: str) -> None:
    """Write the due row of ``booking``'s next attempt at ``due_at`` (idempotent)."""
    entity = rules.due_entity(datetime.fromisoformat(due_at.replace("Z", "+00:00")), booking.workspace,
                              booking.host, booking.id, int(booking.revision or 0))
    store.upsert(rules.DUE_TABLE, entity)


def drop(store: EntityStore, row_keys: Iterable[str | None]) -> None:
    """Delete due rows (absent is fine)."""
    for rk in sorted({k for k in row_keys if k}):
        store.delete(rules.DUE_TABLE, rules.DUE_PK, rk)


def _claim(store: EntityStore, row: rules.DueRow, now: datetime) -> bool:
    try:
        store.update(rules.DUE_TABLE, {"PartitionKey": rules.DUE_PK, "RowKey": row.row_key,
                                       "enqueued_at": iso_utc(now)}, row.etag or None, merge=True)
        return True
    except (ConcurrencyConflict, NotFound):
        return False


def enqueue_due(store: EntityStore, queue: MessageQueue, now: datetime, *, reenqueue_after: timedelta,
                limit: int = MAX_DUE_ROWS) -> DueRun:
    """Claim every due row (earliest first, at most ``limit``) and send its ``meetings/reconcile``."""
    result = DueRun()
    rows = store.query(rules.DUE_TABLE, rules.DUE_PK, row_key_to=f"{iso_utc(now)}|~", limit=limit + 1)
    for entity in rows:
        row = rules.DueRow.from_entity(entity)
        if row is None:
            store.delete(rules.DUE_TABLE, rules.DUE_PK, str(entity["RowKey"]), entity.get("_etag"))
            result.dropped += 1
            continue
        if row.due_at > iso_utc(now):
            continue
        if result.due >= limit:
            result.cut_short = True
            break
        result.due += 1
        if row.recently_enqueued(now, reenqueue_after):
            result.waiting += 1
            continue
        if not _claim(store, row, now):
            result.lost_claims += 1
            continue
        booking_events.send_meeting(queue, "reconcile", row.workspace, row.host, row.booking_id,
                                    row.revision, due_row=row.row_key)
        result.enqueued += 1
    if result.due:
        log.info("reconcile due: due=%d enqueued=%d waiting=%d lost=%d cut_short=%s", result.due,
                 result.enqueued, result.waiting, result.lost_claims, result.cut_short)
    return result


__all__ = ["DueRun", "MAX_DUE_ROWS", "drop", "enqueue_due", "schedule"]
