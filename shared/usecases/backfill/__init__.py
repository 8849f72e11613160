"""The backfill sweep (rule 4): links for upcoming bookings made while the host's connection was broken
(Teams; Google Calendar for Google Meet links, rule 28).

Reads (never a scan over bookings, whatever their number):

* ``connectiontransitions`` (PK ``teams``, RK ``{connected_at}|{ws}|{user}|{generation}``): a row per
  transition of a ``teams`` connection to ``connected``, read from the checkpoint on (phase 1).
* ``backfillhosts`` (PK ``hosts``, RK ``{ws}|{host}``): every host that may have candidates, walked with
  a cursor, a bounded slice per run (phase 2). It catches what phase 1 cannot: a transition row written
  late with an earlier key, a booking made while a reconnect was in progress, a lost ``backfill`` message.
* per host: its connection rows (one partition query: ``teams`` and ``google_calendar``), then its
  ``backfillindex`` partition (only bookings stored ``awaiting_connection``). The sweep decides from the
  row alone and never reads a booking: a row whose start (from its RowKey) is not in the future is deleted
  (ETag-conditional); an upcoming row whose link's connection is up (``teams``, or ``google_calendar`` for
  a Google Meet booking: the row records ``location``) is a candidate.

Writes: a candidate is *claimed* on its index row (ETag-conditional merge of ``enqueued_at`` and the
connection generation), then a ``meetings`` ``create`` message naming the row (``backfill_row``, with
the revision the row was indexed with) is sent. The meeting worker reads the booking anyway and decides
(``shared.domain.backfill.candidate_verdict``): a candidate gets its link with the host's CURRENT
connection, ``link_update`` is sent and the index row removed; anything else (cancelled, linked, failed,
not Teams, moved, missing, ... rows left by a crash between a booking write and the index delete) is
acknowledged without touching the booking, and its index rows are deleted. A lost claim race sends
nothing; a duplicate message is harmless (the worker is exactly-once), so two sweeps at once are
correct; the lease row (``sweepstate``/``sweep``/``lease``) only spares duplicate work.

A claim without its message (a crash between the two) is retried after ``REENQUEUE_AFTER``; a new
connection generation (another reconnect) retries at once.

Progress: ``sweepstate``/``sweep``/``checkpoint`` (ETag-guarded) holds ``transitions_after`` and
``hosts_after``; it is saved after every host, and a host cut short is not passed, so a run stopped by
its budget (``max_seconds``, ``max_hosts``, ``max_rows_per_host``) or a crash resumes where it was. A
transient storage error ends the run there; any other error is that host's alone (logged, counted, the
run goes on).

Outcome: one log line per run (ids and counts only) and ``sweepstate``/``{ws}|{host}``/``last`` per
host swept, shown by ``GET /api/workspaces/{ws}/users/{user}/backfill`` with the current candidate count.

Layout: ``deps`` (limits, deps, run results), ``checkpoint`` (checkpoint and lease), ``host`` (one host's
rows), ``sweep`` (``run_sweep``, ``run_for_host``), ``status`` (the management view).
"""
from __future__ import annotations

from shared.usecases.backfill.checkpoint import (
    Checkpoint,
    acquire_lease,
    load_checkpoint,
    release_lease,
    save_checkpoint,
)
from shared.usecases.backfill.deps import (
    CHECKPOINT_RK,
    LAST_RK,
    LEASE_RK,
    LEASE_SECONDS,
    MAX_HOSTS,
    MAX_PAST_ROWS,
    MAX_ROWS_PER_HOST,
    MAX_SECONDS,
    SCAN_FACTOR,
    SWEEP_PK,
    SWEEPSTATE,
    TRANSITIONS_PK,
    BackfillDeps,
    HostResult,
    RunResult,
)
from shared.usecases.backfill.host import sweep_host
from shared.usecases.backfill.status import backfill_status
from shared.usecases.backfill.sweep import run_for_host, run_sweep

__all__ = [
    "CHECKPOINT_RK", "LAST_RK", "LEASE_RK", "LEASE_SECONDS", "MAX_HOSTS", "MAX_PAST_ROWS", "MAX_ROWS_PER_HOST",
    "MAX_SECONDS", "SCAN_FACTOR", "SWEEPSTATE", "SWEEP_PK", "TRANSITIONS_PK", "BackfillDeps", "Checkpoint",
    "HostResult", "RunResult", "acquire_lease", "backfill_status", "load_checkpoint", "release_lease",
    "run_for_host", "run_sweep", "save_checkpoint", "sweep_host",
]
