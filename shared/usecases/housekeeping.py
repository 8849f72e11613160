"""Housekeeping: delete the traffic rows nothing will read again (``shared.domain.retention`` says which).

Run by an hourly timer. Each table is read with a scan the service filters where it can (``expires_at``,
``at`` and ``last_attempt_at`` below a cutoff; the rate-limit counters are few and read whole), and each
row is deleted only if its ETag is still the one read: a row written meanwhile (a counter hit again) stays.
A run stops after ``max_deletes`` deletes; the next run goes on, so a backlog shrinks run by run.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from shared.domain import retention as rules
from shared.domain.connections import AUTH_FLOWS_TABLE, CONNECT_LINKS_TABLE
from shared.domain.rate_limits import COUNTERS_TABLE
from shared.errors import ConcurrencyConflict
from shared.ports import Clock, Entity, EntityStore, iso_utc
from shared.repositories import webhooks as webhook_repo

log = logging.getLogger("bookbridge.housekeeping")


@dataclass
class HousekeepingRun:
    """What one run deleted per table, how many rows it left because they changed meanwhile, and whether it
    stopped at its delete budget (``complete`` False: the next run goes on)."""

    deleted: dict[str, int] = field(default_factory=dict)
    kept_changed: int = 0
    complete: bool = True

    def as_dict(self) -> dict[str, object]:
        """The log and test form."""
        return {"deleted": dict(self.deleted), "kept_changed": self.kept_changed, "complete": self.complete}


Pass = tuple[str, Callable[[], Iterator[Entity]], Callable[[Entity], bool]]
"""``(table, its rows to look at, whether a row may go)``."""


def housekeeping_passes(store: EntityStore, now: datetime) -> list[Pass]:
    """The tables looked after, in order, with the scan of each and the rule that judges its rows."""
    expired = iso_utc(now - rules.EXPIRED_ROW_GRACE)
    retained = iso_utc(now - rules.DELIVERY_RETENTION)
    deliveries = webhook_repo.DELIVERIES

    def over(row: Entity) -> bool:
        return rules.rate_limit_window_over(str(row["PartitionKey"]), row.get("window"), now)

    def delivery_expired(row: Entity) -> bool:
        return rules.delivery_row_expired(row, retained, attempt_prefix=webhook_repo.ATTEMPT_PREFIX,
                                          delivery_prefix=webhook_repo.DELIVERY_PREFIX)

    def any_row(_row: Entity) -> bool:
        return True

    return [
        (COUNTERS_TABLE, lambda: store.scan(COUNTERS_TABLE, select=["window"]), over),
        (AUTH_FLOWS_TABLE, lambda: store.scan(AUTH_FLOWS_TABLE, below=("expires_at", expired),
                                              select=["expires_at"]), any_row),
        (CONNECT_LINKS_TABLE, lambda: store.scan(CONNECT_LINKS_TABLE, below=("expires_at", expired),
                                                 select=["expires_at"]), any_row),
        (deliveries, lambda: store.scan(deliveries, below=("at", retained), select=["at"]), delivery_expired),
        (deliveries, lambda: store.scan(deliveries, below=("last_attempt_at", retained),
                                        select=["status", "last_attempt_at"]), delivery_expired),
    ]


def run_housekeeping(store: EntityStore, clock: Clock, *,
                     max_deletes: int = rules.MAX_DELETES_PER_RUN) -> HousekeepingRun:
    """One housekeeping run over every table it looks after."""
    run = HousekeepingRun()
    budget = max_deletes
    for table, rows, may_go in housekeeping_passes(store, clock.now()):
        for row in rows():
            if not may_go(row):
                continue
            if budget <= 0:
                run.complete = False
                break
            budget -= 1
            try:
                store.delete(table, str(row["PartitionKey"]), str(row["RowKey"]), row.get("_etag"))
            except ConcurrencyConflict:
                run.kept_changed += 1
                continue
            run.deleted[table] = run.deleted.get(table, 0) + 1
        if not run.complete:
            break
    log.info("housekeeping: %s", run.as_dict())
    return run
