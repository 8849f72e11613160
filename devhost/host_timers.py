"""Timer triggers: NCRONTAB (six fields, seconds first; five accepted) or TimeSpan schedules.

Occurrences are computed in ``WEBSITE_TIME_ZONE`` (an IANA name) or UTC. Runs of one timer never
overlap. When the next occurrence passed while a run was in progress (or the host woke up late),
the function runs once at once with ``past_due`` true; further missed occurrences are skipped.
"""
from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from azure.functions.timer import TimerRequest
from croniter import croniter

from devhost.host_config import ConfigError, parse_timespan
from devhost.host_index import FunctionInfo
from devhost.host_invoke import Invocation

log = logging.getLogger("devhost.timers")
LATE_TOLERANCE = datetime.timedelta(seconds=1)
UTC = datetime.UTC


def now_utc() -> datetime.datetime:
    """The current time, aware, in UTC."""
    return datetime.datetime.now(UTC)


@dataclass(frozen=True)
class Schedule:
    """A parsed timer schedule."""

    expression: str
    tz: datetime.tzinfo = UTC

    @classmethod
    def parse(cls, expression: str, time_zone: str | None = None) -> Schedule:
        """Validate an NCRONTAB or TimeSpan expression; raises ConfigError."""
        tz: datetime.tzinfo = UTC
        if time_zone:
            try:
                tz = ZoneInfo(time_zone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ConfigError(f"WEBSITE_TIME_ZONE '{time_zone}' is not an IANA time zone") from exc
        schedule = cls(expression.strip(), tz)
        if schedule.interval is None and not cls._valid_cron(schedule.expression):
            raise ConfigError(f"'{expression}' is not a valid NCRONTAB expression or TimeSpan")
        return schedule

    @staticmethod
    def _valid_cron(expression: str) -> bool:
        fields = len(expression.split())
        if fields == 6:
            return bool(croniter.is_valid(expression, second_at_beginning=True))
        return fields == 5 and bool(croniter.is_valid(expression))

    @property
    def interval(self) -> datetime.timedelta | None:
        """The period of a TimeSpan schedule (``hh:mm:ss``), None for NCRONTAB."""
        if ":" not in self.expression or " " in self.expression:
            return None
        try:
            seconds = parse_timespan(self.expression)
        except ConfigError:
            return None
        return datetime.timedelta(seconds=seconds) if seconds > 0 else None

    def next_after(self, moment: datetime.datetime) -> datetime.datetime:
        """The first occurrence strictly after ``moment`` (aware, UTC)."""
        interval = self.interval
        if interval is not None:
            return moment + interval
        local = moment.astimezone(self.tz)
        six = len(self.expression.split()) == 6
        it = croniter(self.expression, local, second_at_beginning=six)
        following: datetime.datetime = it.get_next(datetime.datetime)
        return following.astimezone(UTC)


Invoke = Callable[[FunctionInfo, TimerRequest], Invocation]


class TimerRunner:
    """Runs one timer function on its schedule in a background thread."""

    def __init__(self, fn: FunctionInfo, schedule: Schedule, run_on_startup: bool, invoke: Invoke) -> None:
        self.fn, self.schedule, self._run_on_startup, self._invoke = fn, schedule, run_on_startup, invoke
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._last: datetime.datetime | None = None
        self._next: datetime.datetime | None = None
        self._thread = threading.Thread(target=self._loop, name=f"devhost-timer-{fn.name}", daemon=True)

    def start(self) -> None:
        """Start the schedule."""
        self._next = self.schedule.next_after(now_utc())
        self._thread.start()

    def stop(self) -> None:
        """Stop the schedule and wait for a run in progress."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def run_now(self, past_due: bool = False) -> Invocation:
        """Run the function at once on the calling thread (waiting for a run in progress)."""
        with self._lock:
            started = now_utc()
            nxt = self._next or self.schedule.next_after(started)
            request = TimerRequest(
                past_due=past_due,
                schedule_status={
                    "Last": (self._last or started).isoformat(),
                    "Next": nxt.isoformat(),
                    "LastUpdated": started.isoformat(),
                },
                schedule={"AdjustForDST": True},
            )
            self._last = started
            return self._invoke(self.fn, request)

    def _loop(self) -> None:
        if self._run_on_startup and not self._stop.is_set():
            self.run_now()
        while not self._stop.is_set():
            due = self._next or self.schedule.next_after(now_utc())
            if self._stop.wait(max(0.0, (due - now_utc()).total_seconds())):
                break
            late = now_utc() - due > LATE_TOLERANCE
            self._next = self.schedule.next_after(due)
            self.run_now(past_due=late)
            if self._stop.is_set():
                break
            if self._next <= now_utc():
                # an occurrence passed while the function ran: one catch-up run, the rest skipped
                self._next = self.schedule.next_after(now_utc())
                self.run_now(past_due=True)
                self._next = self.schedule.next_after(now_utc())
