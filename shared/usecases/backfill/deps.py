"""What the backfill sweep depends on, its limits and budget, and what a run reports."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypedDict

from shared.domain import backfill as rules
from shared.domain.model import ConnectionKind
from shared.ports import Clock, Entity, EntityStore, MessageQueue, iso_utc
from shared.usecases import reconcile

log = logging.getLogger("bookbridge.backfill")


SWEEPSTATE = "sweepstate"
SWEEP_PK = "sweep"
CHECKPOINT_RK = "checkpoint"
LEASE_RK = "lease"
LAST_RK = "last"
TRANSITIONS_PK = ConnectionKind.TEAMS.value
TEAMS = ConnectionKind.TEAMS.value
#: Connection kinds whose reconnect backfills waiting links (Teams; Google Calendar for Google Meet).
LINK_KINDS = (TEAMS, ConnectionKind.GOOGLE_CALENDAR.value)

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


class BackfillOptions(TypedDict, total=False):
    """The limits of :class:`BackfillDeps` a test may give the container instead of the defaults."""

    timer: Callable[[], float]
    max_seconds: float
    max_hosts: int
    max_rows_per_host: int
    use_lease: bool
    lease_seconds: int
    reenqueue_after: timedelta
    max_due_rows: int


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
    connected: bool = False  # a connection that makes waiting links (``teams``, ``google_calendar``) is up
    generation: int = 0      # the ``teams`` connection's generation (the per-host record)
    generations: dict[str, int] = field(default_factory=dict)  # each connected kind's generation
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


class Budget:
    def __init__(self, deps: BackfillDeps) -> None:
        self._timer = deps.timer
        self._started = deps.timer()
        self._deadline = self._started + deps.max_seconds
        self.hosts_left = deps.max_hosts

    def exhausted(self) -> bool:
        return self._timer() >= self._deadline

    def elapsed_ms(self) -> int:
        return int((self._timer() - self._started) * 1000)
