"""The sweep's progress (``sweepstate``/``sweep``/``checkpoint``, ETag-guarded) and its lease."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.errors import ConcurrencyConflict, NotFound
from shared.ports import Entity, EntityExists, EntityStore, iso_utc
from shared.repositories.optimistic import optimistic_update, starting_with
from shared.usecases.backfill.deps import CHECKPOINT_RK, LEASE_RK, SWEEP_PK, SWEEPSTATE

log = logging.getLogger("bookbridge.backfill")


@dataclass
class Checkpoint:
    """``sweepstate``/``sweep``/``checkpoint``: the last transition RowKey handled and the hosts cursor."""

    transitions_after: str = ""
    hosts_after: str = ""
    etag: str | None = None

    def entity(self, run_id: str, now: datetime) -> Entity:
        return {"PartitionKey": SWEEP_PK, "RowKey": CHECKPOINT_RK, "transitions_after": self.transitions_after,
                "hosts_after": self.hosts_after, "run_id": run_id, "updated_at": iso_utc(now)}


def load_checkpoint(store: EntityStore) -> Checkpoint:
    """The checkpoint (empty when the sweep never ran)."""
    e = store.get(SWEEPSTATE, SWEEP_PK, CHECKPOINT_RK)
    if not e:
        return Checkpoint()
    return Checkpoint(str(e.get("transitions_after") or ""), str(e.get("hosts_after") or ""), e.get("_etag"))


def save_checkpoint(store: EntityStore, cp: Checkpoint, run_id: str, now: datetime) -> Checkpoint:
    """Write ``cp`` if nobody changed the row since it was read; after a lost race, merge and retry.

    Merge: ``transitions_after`` is the larger of both (every row up to either was handled by the run that
    wrote it, each run having started from an earlier checkpoint); ``hosts_after`` is this run's.
    """
    current = cp

    def merged() -> Checkpoint:
        nonlocal current
        theirs = load_checkpoint(store)
        current = Checkpoint(max(current.transitions_after, theirs.transitions_after), current.hosts_after,
                             theirs.etag)
        return current

    def write(mine: Checkpoint) -> Checkpoint:
        if mine.etag is None:
            etag = store.insert(SWEEPSTATE, mine.entity(run_id, now))
        else:
            etag = store.update(SWEEPSTATE, mine.entity(run_id, now), mine.etag)
        return Checkpoint(mine.transitions_after, mine.hosts_after, etag)

    try:
        return optimistic_update(starting_with(cp, merged), write, what="the backfill checkpoint",
                                 races=(ConcurrencyConflict, EntityExists, NotFound))
    except ConcurrencyConflict:
        log.warning("backfill checkpoint kept changing; run=%s continues, the next save retries", run_id)
        return current


def acquire_lease(store: EntityStore, run_id: str, now: datetime, seconds: int) -> str | None:
    """Take the sweep's lease for ``seconds``; its ETag, or ``None`` when another run holds it."""
    entity = {"PartitionKey": SWEEP_PK, "RowKey": LEASE_RK, "holder": run_id,
              "expires_at": iso_utc(now + timedelta(seconds=seconds)), "taken_at": iso_utc(now)}
    current = store.get(SWEEPSTATE, SWEEP_PK, LEASE_RK)
    try:
        if current is None:
            return store.insert(SWEEPSTATE, entity)
        if str(current.get("expires_at") or "") > iso_utc(now):
            return None
        return store.update(SWEEPSTATE, entity, current.get("_etag"))
    except (EntityExists, ConcurrencyConflict, NotFound):
        return None


def release_lease(store: EntityStore, etag: str) -> None:
    """Give the lease back (only if it is still ours)."""
    try:
        store.delete(SWEEPSTATE, SWEEP_PK, LEASE_RK, etag)
    except ConcurrencyConflict:
        pass
