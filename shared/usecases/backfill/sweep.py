"""A sweep run: transitions since the checkpoint (phase 1), then a slice of the known hosts (phase 2)."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from shared.domain import backfill as rules
from shared.domain.connections import ID_PATTERN, TRANSITIONS_TABLE
from shared.errors import TransientError
from shared.repositories import bookings as bookings_repo
from shared.usecases import reconcile
from shared.usecases.backfill.checkpoint import (
    Checkpoint,
    acquire_lease,
    load_checkpoint,
    release_lease,
    save_checkpoint,
)
from shared.usecases.backfill.deps import TRANSITIONS_PK, BackfillDeps, Budget, HostResult, RunResult
from shared.usecases.backfill.host import sweep_host

log = logging.getLogger("bookbridge.backfill")


def run_sweep(deps: BackfillDeps, *, trigger: str = "timer") -> RunResult:
    """One timer run: hosts that reconnected since the checkpoint, then the next slice of ``backfillhosts``."""
    store = deps.store
    budget = Budget(deps)
    run = RunResult(uuid.uuid4().hex, trigger)
    lease = None
    if deps.use_lease:
        lease = acquire_lease(store, run.run_id, deps.clock.now(), deps.lease_seconds)
        if lease is None:
            run.busy = True
            run.duration_ms = budget.elapsed_ms()
            run.log_line()
            return run
    try:
        _phase_due(deps, run)
        cp = load_checkpoint(store)
        done: set[tuple[str, str]] = set()
        cp = _phase_transitions(deps, run, cp, budget, done)
        if not run.cut_short:
            _phase_hosts(deps, run, cp, budget, done)
    finally:
        if lease is not None:
            release_lease(store, lease)
        run.duration_ms = budget.elapsed_ms()
        run.log_line()
    return run


def _sweep_one(deps: BackfillDeps, run: RunResult, budget: Budget, ws: str, host: str,
               host_row_etag: str | None = None) -> HostResult | None:
    """Sweep a host for a run. A transient error ends the run (the checkpoint stays before this host); any
    other error is this host's alone: logged (ids and the error's type), counted, and the run goes on (the
    host index brings the host back on a later pass)."""
    budget.hosts_left -= 1
    try:
        result = sweep_host(deps, ws, host, run_id=run.run_id, trigger=run.trigger, budget=budget,
                            host_row_etag=host_row_etag)
    except TransientError:
        raise
    except Exception as exc:  # noqa: BLE001 - one host's bad data must not stop every other host's backfill
        run.failed_hosts += 1
        log.warning("backfill: host failed ws=%s host=%s run=%s error=%s", ws, host, run.run_id,
                    type(exc).__name__)
        return None
    run.add(result)
    return result


def _out_of_budget(run: RunResult, budget: Budget) -> bool:
    if budget.hosts_left <= 0 or budget.exhausted():
        run.cut_short = True
        return True
    return False


def _phase_due(deps: BackfillDeps, run: RunResult) -> None:
    """Retries and repairs whose time has come (``shared.usecases.reconcile.due``): only due rows are read."""
    due = reconcile.enqueue_due(deps.store, deps.queue, deps.clock.now(), reenqueue_after=deps.reenqueue_after,
                                limit=deps.max_due_rows)
    run.due = due.due
    run.candidates += due.due
    run.enqueued += due.enqueued
    run.skipped += due.waiting + due.lost_claims
    run.cut_short = run.cut_short or due.cut_short


def _phase_transitions(deps: BackfillDeps, run: RunResult, cp: Checkpoint, budget: Budget,
                       done: set[tuple[str, str]]) -> Checkpoint:
    """Hosts whose ``teams`` connection became ``connected`` since the checkpoint, oldest first."""
    store = deps.store
    after = cp.transitions_after
    rows = store.query(TRANSITIONS_TABLE, TRANSITIONS_PK, row_key_from=after or None,
                       select=["ws", "user", "generation"], limit=deps.max_hosts + 1)
    for row in rows:
        rk = str(row["RowKey"])
        if after and rk <= after:
            continue
        ws, user = str(row.get("ws") or ""), str(row.get("user") or "")
        if (ws, user) not in done and ID_PATTERN.match(ws) and ID_PATTERN.match(user):
            if _out_of_budget(run, budget):
                break
            result = _sweep_one(deps, run, budget, ws, user)
            done.add((ws, user))
            if result is not None and result.cut_short:
                break  # not passed: the next run sweeps this host again
        run.transitions += 1
        cp = save_checkpoint(store, Checkpoint(rk, cp.hosts_after, cp.etag), run.run_id, deps.clock.now())
    return cp


def _phase_hosts(deps: BackfillDeps, run: RunResult, cp: Checkpoint, budget: Budget,
                 done: set[tuple[str, str]]) -> Checkpoint:
    """The next slice of ``backfillhosts`` after the cursor; at the end the cursor starts over."""
    store = deps.store
    after = cp.hosts_after
    want = max(0, budget.hosts_left)
    if want == 0:
        run.cut_short = True
        return cp
    rows = [r for r in store.query(bookings_repo.BACKFILL_HOSTS, bookings_repo.BACKFILL_HOSTS_PK,
                                   row_key_from=after or None, limit=want + 2)
            if not after or str(r["RowKey"]) > after]
    reached_end = len(rows) <= want
    for row in rows[:want]:
        key = str(row["RowKey"])
        parsed = rules.split_host_key(key)
        if parsed is None or not all(ID_PATTERN.match(p) for p in parsed):
            store.delete(bookings_repo.BACKFILL_HOSTS, bookings_repo.BACKFILL_HOSTS_PK, key, row.get("_etag"))
        elif parsed not in done:
            if _out_of_budget(run, budget):
                return cp
            result = _sweep_one(deps, run, budget, parsed[0], parsed[1], row.get("_etag"))
            done.add(parsed)
            if result is not None and result.cut_short:
                return cp  # not passed: the next run sweeps this host again
        cp = save_checkpoint(store, Checkpoint(cp.transitions_after, key, cp.etag), run.run_id, deps.clock.now())
    if reached_end and cp.hosts_after:
        cp = save_checkpoint(store, Checkpoint(cp.transitions_after, "", cp.etag), run.run_id, deps.clock.now())
    elif not reached_end:
        run.cut_short = True
    return cp


def run_for_host(deps: BackfillDeps, message: Any) -> RunResult | None:
    """The ``backfill`` queue message ``{"workspace", "host", "reason", "kind"?}``: sweep that host at once.

    A reconnect (``reason: reconnected``, of any kind) also sends every upcoming booking of the host that
    has not converged to the reconciler (``shared.usecases.reconcile.host``)."""
    if not isinstance(message, Mapping):
        log.error("backfill: message dropped (not an object)")
        return None
    ws, host = message.get("workspace"), message.get("host")
    if not isinstance(ws, str) or not isinstance(host, str) or not ID_PATTERN.match(ws) or not ID_PATTERN.match(host):
        log.error("backfill: message dropped (workspace/host missing or malformed)")
        return None
    reason = str(message.get("reason") or "requested")
    trigger = reason if reason.isidentifier() and len(reason) <= 32 else "requested"
    budget = Budget(deps)
    run = RunResult(uuid.uuid4().hex, trigger)
    try:
        run.add(sweep_host(deps, ws, host, run_id=run.run_id, trigger=trigger, budget=budget))
        if reason == "reconnected":
            from shared.usecases.reconcile.host import repair_host

            repaired = repair_host(deps.store, deps.queue, deps.clock.now(), ws, host)
            run.enqueued += repaired.enqueued
    finally:
        run.duration_ms = budget.elapsed_ms()
        run.log_line(f"{ws}|{host}")
    return run
