"""The backfill sweep (rule 4): Teams links for upcoming bookings made while the host's Teams was broken.

Reads (never a scan over bookings, whatever their number):

* ``connectiontransitions`` (PK ``teams``, RK ``{connected_at}|{ws}|{user}|{generation}``): a row per
  transition of a ``teams`` connection to ``connected``, read from the checkpoint on (phase 1).
* ``backfillhosts`` (PK ``hosts``, RK ``{ws}|{host}``): every host that may have candidates, walked with
  a cursor, a bounded slice per run (phase 2). It catches what phase 1 cannot: a transition row written
  late with an earlier key, a booking made while a reconnect was in progress, a lost ``backfill`` message.
* per host: its ``teams`` connection row (one point read), then its ``backfillindex`` partition (only
  bookings stored ``awaiting_connection``). The sweep decides from the row alone and never reads a
  booking: a row whose start (from its RowKey) is not in the future is deleted (ETag-conditional); an
  upcoming row of a connected host is a candidate.

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
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Mapping

from shared.domain import backfill as rules
from shared.domain.connections import ID_PATTERN, TRANSITIONS_TABLE
from shared.domain.model import ConnectionKind
from shared.errors import ConcurrencyConflict, NotFound, TransientError
from shared.ports import Clock, Entity, EntityExists, EntityStore, MessageQueue, iso_utc
from shared.repositories import bookings as bookings_repo
from shared.repositories.connection_reads import get_connection_row
from shared.usecases import booking_events, reconcile

log = logging.getLogger("bookbridge.backfill")

SWEEPSTATE = "sweepstate"
SWEEP_PK = "sweep"
CHECKPOINT_RK = "checkpoint"
LEASE_RK = "lease"
LAST_RK = "last"
TRANSITIONS_PK = ConnectionKind.TEAMS.value
TEAMS = ConnectionKind.TEAMS.value

#: Budget of one timer run (the host's functionTimeout is 5 minutes; the schedule every 5 minutes).
MAX_SECONDS = 120.0
#: Hosts swept per run at most (phases 1 and 2 together); the rest waits for the next run.
MAX_HOSTS = 500
#: Index rows of one host worked on (deleted or claimed) per run at most (earliest first: they matter first).
MAX_ROWS_PER_HOST = 1000
#: Index rows of one host read per run at most, as a multiple of ``max_rows_per_host`` (rows claimed
#: moments ago are skipped without work, so a host with more rows than one run works on still progresses).
SCAN_FACTOR = 10
#: Past index rows of a host that is not connected removed per run at most.
MAX_PAST_ROWS = 100
#: How long a run's lease keeps another run out (longer than ``MAX_SECONDS``).
LEASE_SECONDS = 300
#: Attempts at an ETag-guarded checkpoint write before giving up for this host (the next save retries).
CHECKPOINT_ATTEMPTS = 3


@dataclass
class BackfillDeps:
    """Ports and limits of the sweep. ``timer`` measures the run's budget (seconds, monotonic)."""

    store: EntityStore
    queue: MessageQueue
    clock: Clock
    timer: Callable[[], float] = time.monotonic
    max_seconds: float = MAX_SECONDS
    max_hosts: int = MAX_HOSTS
    max_rows_per_host: int = MAX_ROWS_PER_HOST
    use_lease: bool = True
    lease_seconds: int = LEASE_SECONDS
    reenqueue_after: timedelta = rules.REENQUEUE_AFTER
    max_due_rows: int = reconcile.MAX_DUE_ROWS


@dataclass
class HostResult:
    """What sweeping one host did."""

    workspace: str
    host: str
    connected: bool = False
    generation: int = 0
    candidates: int = 0      # upcoming candidates seen (enqueued now or waiting for the worker)
    enqueued: int = 0
    waiting: int = 0         # enqueued by an earlier run less than ``reenqueue_after`` ago
    lost_claims: int = 0     # another sweep claimed the row first
    stale: int = 0           # index rows removed (past, malformed; the worker removes the other stale ones)
    remaining: int = 0       # index rows left after this host
    cut_short: bool = False

    @property
    def skipped(self) -> int:
        return self.waiting + self.lost_claims + self.stale

    def record(self, run_id: str, trigger: str, now: datetime, status: str | None) -> Entity:
        """The per-host last-sweep record (``sweepstate``/``{ws}|{host}``/``last``)."""
        return {
            "PartitionKey": rules.host_partition(self.workspace, self.host), "RowKey": LAST_RK,
            "run_id": run_id, "trigger": trigger, "swept_at": iso_utc(now),
            "connection_status": status or "missing", "generation": self.generation,
            "candidates": self.candidates, "enqueued": self.enqueued, "waiting": self.waiting,
            "lost_claims": self.lost_claims, "stale_removed": self.stale, "remaining": self.remaining,
            "cut_short": self.cut_short,
        }


@dataclass
class RunResult:
    """What one run did (also the content of its log line)."""

    run_id: str
    trigger: str
    hosts: int = 0
    hosts_not_connected: int = 0
    candidates: int = 0
    enqueued: int = 0
    skipped: int = 0
    stale: int = 0
    transitions: int = 0
    due: int = 0
    failed_hosts: int = 0
    cut_short: bool = False
    busy: bool = False
    duration_ms: int = 0
    results: list[HostResult] = field(default_factory=list)

    def add(self, r: HostResult) -> None:
        self.results.append(r)
        self.hosts += 1
        self.hosts_not_connected += 0 if r.connected else 1
        self.candidates += r.candidates
        self.enqueued += r.enqueued
        self.skipped += r.skipped
        self.stale += r.stale
        self.cut_short = self.cut_short or r.cut_short

    def log_line(self, scope: str = "all") -> None:
        """The run's one log line: ids and counts only."""
        log.info("backfill sweep run=%s trigger=%s scope=%s hosts=%d not_connected=%d transitions=%d due=%d "
                 "candidates=%d enqueued=%d skipped=%d stale=%d failed_hosts=%d cut_short=%s busy=%s "
                 "duration_ms=%d", self.run_id, self.trigger, scope, self.hosts, self.hosts_not_connected,
                 self.transitions, self.due, self.candidates, self.enqueued, self.skipped, self.stale,
                 self.failed_hosts, self.cut_short, self.busy, self.duration_ms)


class _Budget:
    def __init__(self, deps: BackfillDeps) -> None:
        self._timer = deps.timer
        self._started = deps.timer()
        self._deadline = self._started + deps.max_seconds
        self.hosts_left = deps.max_hosts

    def exhausted(self) -> bool:
        return self._timer() >= self._deadline

    def elapsed_ms(self) -> int:
        return int((self._timer() - self._started) * 1000)


# ================================================================================ checkpoint and lease
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
    for _ in range(CHECKPOINT_ATTEMPTS):
        try:
            if current.etag is None:
                etag = store.insert(SWEEPSTATE, current.entity(run_id, now))
            else:
                etag = store.update(SWEEPSTATE, current.entity(run_id, now), current.etag)
            return Checkpoint(current.transitions_after, current.hosts_after, etag)
        except (ConcurrencyConflict, EntityExists, NotFound):
            theirs = load_checkpoint(store)
            current = Checkpoint(max(current.transitions_after, theirs.transitions_after), current.hosts_after,
                                 theirs.etag)
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


# ================================================================================ one host
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
    """A row claimed for this generation moments ago: left to the worker."""
    return (r.connected and not rules.index_row_is_past(row, now)
            and rules.recently_claimed(row, r.generation, now, deps.reenqueue_after))


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
    if not r.connected:
        return
    r.candidates += 1  # rows claimed moments ago were counted as waiting by the caller
    if not _claim(deps.store, row, run_id, r.generation, now):
        r.lost_claims += 1
        return
    booking_events.send_meeting(deps.queue, "create", r.workspace, r.host, row.booking_id, row.revision or 1,
                                backfill_row=row.row_key)
    r.enqueued += 1


def sweep_host(deps: BackfillDeps, workspace: str, host: str, *, run_id: str, trigger: str,
               budget: _Budget | None = None, host_row_etag: str | None = None) -> HostResult:
    """Backfill one host: enqueue its upcoming candidates when its ``teams`` connection is ``connected``.

    ``host_row_etag`` is the ETag of the host's ``backfillhosts`` row as read BEFORE its index was read
    (phase 2): with it, a host left without index rows loses its row (ETag-guarded: a booking indexed
    meanwhile re-wrote it). Without it (phase 1, the queue), a host with rows left gets its row written.
    """
    store = deps.store
    now = deps.clock.now()
    pk = rules.host_partition(workspace, host)
    connection = get_connection_row(store, workspace, host, TEAMS)
    r = HostResult(workspace, host, connected=rules.is_connected(connection),
                   generation=rules.generation_of(connection))
    if r.connected:  # every row: past ones are deleted, upcoming ones candidates (earliest first)
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
    if not r.connected and not r.cut_short and host_row_etag is not None and r.remaining == 0:
        r.remaining = sum(1 for _ in store.query(bookings_repo.BACKFILL, pk, select=["RowKey"], limit=1))
    if r.remaining == 0 and not r.cut_short:
        if host_row_etag is not None:
            try:
                store.delete(bookings_repo.BACKFILL_HOSTS, bookings_repo.BACKFILL_HOSTS_PK, pk, host_row_etag)
            except ConcurrencyConflict:
                pass  # a booking was indexed meanwhile: the row stays
    elif host_row_etag is None and r.remaining:
        store.upsert(bookings_repo.BACKFILL_HOSTS, bookings_repo.backfill_host_entity(workspace, host))
    if r.connected or trigger != "timer" or r.stale:
        store.upsert(SWEEPSTATE, r.record(run_id, trigger, now, str((connection or {}).get("status") or "") or None))
    return r


# ================================================================================ entry points
def run_sweep(deps: BackfillDeps, *, trigger: str = "timer") -> RunResult:
    """One timer run: hosts that reconnected since the checkpoint, then the next slice of ``backfillhosts``."""
    store = deps.store
    budget = _Budget(deps)
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


def _sweep_one(deps: BackfillDeps, run: RunResult, budget: _Budget, ws: str, host: str,
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


def _out_of_budget(run: RunResult, budget: _Budget) -> bool:
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


def _phase_transitions(deps: BackfillDeps, run: RunResult, cp: Checkpoint, budget: _Budget,
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


def _phase_hosts(deps: BackfillDeps, run: RunResult, cp: Checkpoint, budget: _Budget,
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
    budget = _Budget(deps)
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


# ================================================================================ management view
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


__all__ = [
    "BackfillDeps", "Checkpoint", "HostResult", "RunResult", "acquire_lease", "backfill_status", "load_checkpoint",
    "release_lease", "run_for_host", "run_sweep", "save_checkpoint", "sweep_host",
]
