"""One host: its ``backfillindex`` rows, decided from the row alone; candidates claimed, then enqueued."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from shared.domain import backfill as rules
from shared.errors import ConcurrencyConflict, NotFound
from shared.ports import Entity, EntityStore, iso_utc
from shared.repositories import bookings as bookings_repo
from shared.repositories.connection_reads import CONNECTIONS
from shared.usecases import booking_events
from shared.usecases.backfill.deps import (
    LINK_KINDS,
    MAX_PAST_ROWS,
    SCAN_FACTOR,
    SWEEPSTATE,
    TEAMS,
    BackfillDeps,
    Budget,
    HostResult,
)

log = logging.getLogger("bookbridge.backfill")


def _delete_row(store: EntityStore, row: rules.IndexRow) -> bool:
    """Delete a stale index row unless it was rewritten meanwhile (intake/reschedule/worker upsert)."""
    try:
        store.delete(bookings_repo.BACKFILL, row.partition, row.row_key, row.etag)
        return True
    except ConcurrencyConflict:
        return False


def _claim(store: EntityStore, row: rules.IndexRow, run_id: str, generation: int, now: datetime) -> bool:
    """Mark the row enqueued for this generation, only if nobody touched it since it was read."""
    try:
        store.update(bookings_repo.BACKFILL, {
            "PartitionKey": row.partition, "RowKey": row.row_key, "enqueued_at": iso_utc(now),
            "enqueued_generation": generation, "enqueued_run": run_id,
        }, row.etag or None, merge=True)
        return True
    except (ConcurrencyConflict, NotFound):
        return False


def _waiting(deps: BackfillDeps, r: HostResult, row: rules.IndexRow, now: datetime) -> bool:
    """A row claimed for its connection's generation moments ago: left to the worker."""
    generation = r.generations.get(rules.connection_kind(row))
    return (generation is not None and not rules.index_row_is_past(row, now)
            and rules.recently_claimed(row, generation, now, deps.reenqueue_after))


def _handle_row(deps: BackfillDeps, r: HostResult, row: rules.IndexRow, run_id: str, now: datetime) -> None:
    """One index row, decided from the row alone: past: delete; upcoming (host connected): claim, enqueue.

    The booking is not read here: the meeting worker reads it for the ``create`` and leaves anything that
    is no candidate (cancelled, linked, failed, moved, ...) unchanged, deleting its index rows."""
    if rules.index_row_is_past(row, now):
        if _delete_row(deps.store, row):
            r.stale += 1
        else:
            r.remaining += 1
        return
    r.remaining += 1
    generation = r.generations.get(rules.connection_kind(row))
    if generation is None:  # the connection that makes this row's link is not up
        return
    r.candidates += 1  # rows claimed moments ago were counted as waiting by the caller
    if not _claim(deps.store, row, run_id, generation, now):
        r.lost_claims += 1
        return
    booking_events.send_meeting(deps.queue, "create", r.workspace, r.host, row.booking_id, row.revision or 1,
                                backfill_row=row.row_key)
    r.enqueued += 1


def sweep_host(deps: BackfillDeps, workspace: str, host: str, *, run_id: str, trigger: str,
               budget: Budget | None = None, host_row_etag: str | None = None) -> HostResult:
    """Backfill one host: enqueue its upcoming candidates whose connection is ``connected`` (``teams``, or
    ``google_calendar`` for Google Meet; the host's connection rows in one partition query).

    ``host_row_etag`` is the ETag of the host's ``backfillhosts`` row as read BEFORE its index was read
    (phase 2): with it, a host left without index rows loses its row (ETag-guarded: a booking indexed
    meanwhile re-wrote it). Without it (phase 1, the queue), a host with rows left gets its row written.
    """
    store = deps.store
    now = deps.clock.now()
    rows = {str(e.get("RowKey")): e for e in store.query(CONNECTIONS, rules.host_partition(workspace, host))}
    connection = rows.get(TEAMS)
    generations = {k: rules.generation_of(rows.get(k)) for k in LINK_KINDS if rules.is_connected(rows.get(k))}
    r = HostResult(workspace, host, connected=bool(generations), generation=rules.generation_of(connection),
                   generations=generations)
    _work_rows(deps, r, run_id, now, budget)
    _keep_host_row(deps, r, host_row_etag)
    if r.connected or trigger != "timer" or r.stale:
        store.upsert(SWEEPSTATE, r.record(run_id, trigger, now, str((connection or {}).get("status") or "") or None))
    return r


def _work_rows(deps: BackfillDeps, r: HostResult, run_id: str, now: datetime, budget: Budget | None) -> None:
    """The host's index rows: every row of a connected host (past ones deleted, upcoming ones candidates,
    earliest first); only past rows (bounded) of a host that is not connected."""
    store = deps.store
    pk = rules.host_partition(r.workspace, r.host)
    if r.connected:
        rows: Iterable[Entity] = store.query(bookings_repo.BACKFILL, pk,
                                             limit=deps.max_rows_per_host * SCAN_FACTOR)
        limit = deps.max_rows_per_host
    else:  # nothing to enqueue: only clean past rows up (bounded), and learn whether rows are left
        rows = store.query(bookings_repo.BACKFILL, pk, row_key_to=iso_utc(now), limit=MAX_PAST_ROWS + 1)
        limit = MAX_PAST_ROWS
    worked = 0
    for entity in rows:
        row = rules.IndexRow.from_entity(entity)
        if row is not None and _waiting(deps, r, row, now):  # cheap: no booking read, no budget
            r.candidates += 1
            r.waiting += 1
            r.remaining += 1
            continue
        if worked >= limit or (budget is not None and budget.exhausted()):
            r.cut_short = True
            r.remaining += 1
            break
        worked += 1
        if row is None:
            store.delete(bookings_repo.BACKFILL, pk, str(entity["RowKey"]), entity.get("_etag"))
            r.stale += 1
            continue
        _handle_row(deps, r, row, run_id, now)
    else:
        if r.connected and worked + r.waiting >= deps.max_rows_per_host * SCAN_FACTOR:
            r.cut_short = True  # more rows than one run reads: the next run goes on


def _keep_host_row(deps: BackfillDeps, r: HostResult, host_row_etag: str | None) -> None:
    """The host's ``backfillhosts`` row: removed when no index row is left, written when rows are left."""
    store = deps.store
    pk = rules.host_partition(r.workspace, r.host)
    if not r.connected and not r.cut_short and host_row_etag is not None and r.remaining == 0:
        r.remaining = sum(1 for _ in store.query(bookings_repo.BACKFILL, pk, select=["RowKey"], limit=1))
    if r.remaining == 0 and not r.cut_short:
        if host_row_etag is not None:
            try:
                store.delete(bookings_repo.BACKFILL_HOSTS, bookings_repo.BACKFILL_HOSTS_PK, pk, host_row_etag)
            except ConcurrencyConflict:
                pass  # a booking was indexed meanwhile: the row stays
    elif host_row_etag is None and r.remaining:
        store.upsert(bookings_repo.BACKFILL_HOSTS, bookings_repo.backfill_host_entity(r.workspace, r.host))
