"""The management view of a host's backfill: its last sweep and its current candidates."""
from __future__ import annotations

import logging
from typing import Any

from shared.domain import backfill as rules
from shared.ports import Clock, EntityStore, iso_utc
from shared.repositories import bookings as bookings_repo
from shared.repositories.connection_reads import get_connection_row
from shared.usecases.backfill.deps import LAST_RK, SWEEPSTATE, TEAMS

log = logging.getLogger("bookbridge.backfill")


def backfill_status(store: EntityStore, clock: Clock, workspace: str, user: str) -> dict[str, Any]:
    """The host's last-sweep record and how many upcoming bookings await a link now (one partition query)."""
    from shared.usecases import workspaces

    workspaces.get_user(store, workspace, user)  # 422 for a bad id, 404 for an unknown user
    pk = rules.host_partition(workspace, user)
    now = clock.now()
    count = sum(1 for _ in store.query(bookings_repo.BACKFILL, pk, row_key_from=iso_utc(now), select=["RowKey"]))
    last = store.get(SWEEPSTATE, pk, LAST_RK)
    connection = get_connection_row(store, workspace, user, TEAMS)
    view = None
    if last:
        view = {k: last.get(k) for k in ("swept_at", "trigger", "run_id", "connection_status", "generation",
                                         "candidates", "enqueued", "waiting", "lost_claims", "stale_removed",
                                         "remaining", "cut_short")}
    return {"workspace": workspace, "user": user,
            "teams_connection": str((connection or {}).get("status") or "") or None,
            "candidates": count, "last_sweep": view}
