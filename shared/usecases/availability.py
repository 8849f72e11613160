"""Availability: read what blocks each member (bookbridge bookings, Outlook free/busy) in parallel,
then let the pure rules (``shared.domain.availability``) decide the slots.

* Bookings: the member's ``lock|{cell}`` rows in ``schedule`` (one single-partition range query
  per member, every calendar's bookings of that member), merged into intervals.
* Outlook: for a member whose calendar provider is ``microsoft``, the ``microsoft_calendar``
  connection row (status, account UPN), that member's own access token (``TokenProvider``, kind
  ``microsoft_calendar``) and ``getSchedule`` for that member's mailbox. Any failure makes the member
  unreadable, i.e. busy the whole time (rule 12), with a reason admins see in the diagnostics.

Every member's reads run at the same time on a thread pool, so a page of slots costs about one
Graph round trip, not one per member.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from shared.domain import linked_calendar
from shared.domain.availability import (
    Interval,
    MemberAvailability,
    candidate_slots,
    free_slots,
    merge,
    window_utc,
)
from shared.domain.calendar_config import CalendarConfig, MemberConfig
from shared.domain.model import CalendarProvider, ConnectionKind, ConnectionStatus
from shared.domain.readiness import calendar_problems, member_problems
from shared.domain.slot_locks import GRID, LOCK_PREFIX, ceil_to_grid, cell_key, floor_to_grid
from shared.errors import (
    BookbridgeError,
    GraphRejected,
    GraphUnauthorized,
    NotConnected,
    NotFound,
    ReauthRequired,
    Throttled,
    TransientError,
)
from shared.ports import (
    Clock,
    EntityStore,
    FreeBusyCachePort,
    GoogleCalendarPort,
    MailboxPort,
    ScheduleAnswer,
    ScheduleFetcher,
    TokenProvider,
    iso_utc,
)
from shared.repositories import bookings as booking_repo
from shared.repositories import calendars as calendar_repo
from shared.repositories.calendar_cache import CalendarCache
from shared.repositories.connection_reads import get_connection_row, status_of
from shared.usecases.google_availability import google_free_busy
from shared.usecases.mailbox_address import mailbox_address, mailbox_key

log = logging.getLogger("bookbridge.availability")
PROVIDERS = (CalendarProvider.MICROSOFT, CalendarProvider.GOOGLE)
"""Calendar providers whose free/busy is read (Outlook's getSchedule, Google's freeBusy.query)."""


def _accepts_connection(tokens: TokenProvider) -> bool:
    import inspect

    try:
        params = inspect.signature(tokens).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "connection" or p.kind is p.VAR_KEYWORD for p in params)


def _token(tokens: TokenProvider, ws: str, user: str, kind: str, force_refresh: bool,
           connection: Mapping[str, Any] | None = None) -> str:
    if not force_refresh:
        if connection is not None and _accepts_connection(tokens):
            return tokens(ws, user, kind, connection=connection)
        return tokens(ws, user, kind)
    try:
        return tokens(ws, user, kind, force_refresh=True)
    except TypeError:
        return tokens(ws, user, kind)


@dataclass
class AvailabilityDeps:
    """What availability needs: storage, the clock, member tokens and Graph free/busy."""

    store: EntityStore
    clock: Clock
    tokens: TokenProvider
    fetch_schedule: ScheduleFetcher
    #: Threads of one read: every member's Outlook read of a calendar (at most 50 members) starts at once,
    #: so a page costs one Graph round trip; with 8, a 20-member round robin needed 3 waves.
    max_workers: int = 64
    #: ``GET /me?$select=mail,userPrincipalName`` for a connection that has no ``mailbox`` yet (rule 23);
    #: ``None``: only a stored ``mailbox`` (else the calendar profile's email) is used.
    mailbox_reader: MailboxPort | None = None
    #: ``FreeBusyCache`` (rule 27): answers per mailbox and window for at most 60 s, one fetch at a time;
    #: ``None``: every read asks Graph.
    free_busy_cache: FreeBusyCachePort | None = None
    #: How a short ``Retry-After`` (at most :data:`SHORT_RETRY_AFTER` seconds) is waited out before the one
    #: retry of a throttled free/busy read (a visitor is waiting; longer ones fail closed at once).
    wait: Callable[[float], Any] = threading.Event().wait
    #: Calendar v3 for members whose provider is ``google`` (rule 28); ``None``: they are unreadable.
    google_calendar: GoogleCalendarPort | None = None


# ------------------------------------------------------------------ one member
SHORT_RETRY_AFTER = 2.0
"""A throttled free/busy read whose ``Retry-After`` is at most this many seconds is retried once."""


def _read_schedule(deps: AvailabilityDeps, row: Mapping[str, Any], token: str, mailbox: str,
                   window: Interval) -> Mapping[str, ScheduleAnswer]:
    """getSchedule of one mailbox through the free/busy cache, with one retry after a short ``Retry-After``."""
    def fetch() -> Mapping[str, ScheduleAnswer]:
        try:
            return deps.fetch_schedule(token, [mailbox], window.start, window.end)
        except Throttled as exc:
            if exc.retry_after is None or exc.retry_after > SHORT_RETRY_AFTER:
                raise
            deps.wait(max(0.0, float(exc.retry_after)))
            return deps.fetch_schedule(token, [mailbox], window.start, window.end)

    cache = deps.free_busy_cache
    if cache is None:
        return fetch()
    key = mailbox_key(row) or mailbox.lower()
    answers: Mapping[str, ScheduleAnswer] = cache.get_or_fetch(
        key, (mailbox.lower(), window.start, window.end), fetch,
        cacheable=lambda found: all(not a.error for a in found.values()))
    return answers


def _reason_for(exc: Exception) -> str:
    if isinstance(exc, ReauthRequired):
        return "the Microsoft calendar connection must be renewed (needs_reauth): the member has to sign in again"
    if isinstance(exc, NotConnected):
        return "the member has no connected Microsoft calendar"
    if isinstance(exc, Throttled):
        return "Outlook is throttling free/busy requests (try again shortly)"
    if isinstance(exc, GraphUnauthorized):
        return "Outlook refused the member's access token"
    if isinstance(exc, GraphRejected):
        return f"Outlook refused the free/busy request: {exc.message}"[:300]
    if isinstance(exc, TransientError):
        return f"Outlook free/busy did not answer ({exc.code})"
    if isinstance(exc, BookbridgeError):
        return f"free/busy could not be read ({exc.code})"
    return f"free/busy could not be read (internal error {type(exc).__name__})"


def member_free_busy(deps: AvailabilityDeps, ws: str, member: MemberConfig, window: Interval, *,
                     mailbox_hint: str | None = None, ignore: Interval | None = None) -> MemberAvailability:
    """One member's provider free/busy over ``window`` (Outlook, or Google's: ``google_availability``); never
    raises (failures are unreadable). ``ignore``: a busy item with exactly this start and end is left out (the
    booking being rescheduled, which its own event shows as busy)."""
    user = member.user
    if member.calendar_provider is CalendarProvider.GOOGLE:
        return google_free_busy(deps.store, deps.google_calendar, partial(_google_token, deps, ws, user), ws, user,
                                window, ignore)
    if member.calendar_provider is not CalendarProvider.MICROSOFT:
        return MemberAvailability(user)
    try:
        row = get_connection_row(deps.store, ws, user, ConnectionKind.MICROSOFT_CALENDAR.value)
        status = status_of(row)
        if status is None:
            return MemberAvailability.unreadable(user, "the member has not connected a Microsoft calendar")
        if status is not ConnectionStatus.CONNECTED:
            return MemberAvailability.unreadable(
                user, f"the member's Microsoft calendar connection is {status.value}: they must connect again")
        answer = _schedule(deps, ws, user, window, row, mailbox_hint)
        if isinstance(answer, str):
            return MemberAvailability.unreadable(user, answer)
        if answer is None:
            return MemberAvailability.unreadable(user, "Outlook did not answer for the member's calendar")
        if answer.error:
            return MemberAvailability.unreadable(user, answer.error)
        blocks = [b for b in answer.blocks
                  if ignore is None or not (b.start == ignore.start and b.end == ignore.end)]
        return MemberAvailability.from_blocks(user, blocks)
    except Exception as exc:  # noqa: BLE001 - fail closed whatever went wrong (rule 12)
        level = logging.INFO if isinstance(exc, BookbridgeError) else logging.WARNING
        log.log(level, "free/busy of %s/%s unreadable: %s", ws, user, type(exc).__name__)
        return MemberAvailability.unreadable(user, _reason_for(exc))


def _google_token(deps: AvailabilityDeps, ws: str, user: str, force: bool, row: Mapping[str, Any] | None) -> str:
    return _token(deps.tokens, ws, user, ConnectionKind.GOOGLE_CALENDAR.value, force, row)


def _schedule(deps: AvailabilityDeps, ws: str, user: str, window: Interval, row: Mapping[str, Any] | None,
              mailbox_hint: str | None) -> ScheduleAnswer | str | None:
    """The member's free/busy answer (``None`` when none came), or why it cannot be asked; a refused token is
    asked for again once."""
    mailbox: str | None = None
    for attempt in (1, 2):
        # the first ask reuses the row just read; a retry after a refused token reads it again
        token = _token(deps.tokens, ws, user, ConnectionKind.MICROSOFT_CALENDAR.value, attempt > 1,
                       row if attempt == 1 else None)
        try:
            # rule 23: the mailbox read from /me, never the id token's preferred_username (``upn``)
            mailbox = mailbox or mailbox_address(deps.store, deps.mailbox_reader, row or {}, token) or mailbox_hint
            if not mailbox:
                return "no mailbox address is known for the member"
            answers = _read_schedule(deps, row or {}, token, mailbox, window)
        except GraphUnauthorized:
            if attempt == 1:
                continue
            raise
        answer = answers.get(mailbox.lower())
        if answer is None and len(answers) == 1:
            answer = next(iter(answers.values()))
        return answer
    return None


def lock_range(window: Interval, pad: timedelta = timedelta(0)) -> tuple[str, str]:
    """``(row_key_from, row_key_to)`` of the lock cells touching ``window`` widened by ``pad``."""
    first = floor_to_grid(window.start - pad)
    last = ceil_to_grid(window.end + pad)
    return cell_key(first), cell_key(last)


def cell_start(row_key: str) -> datetime:
    """The instant a ``lock|YYYYMMDDTHHMMZ`` cell starts."""
    return datetime.strptime(row_key[len(LOCK_PREFIX):], "%Y%m%dT%H%MZ").replace(tzinfo=UTC)


def member_bookings(store: EntityStore, ws: str, user: str, window: Interval, pad: timedelta = timedelta(0),
                    *, exclude_booking: str | None = None) -> list[Interval]:
    """The member's booked time near ``window`` (every calendar), from the lock rows: ONE query. A booking's
    buffer cells (``lock_kind: buffer``) are not booked time: the calendar's buffers are applied to the meetings."""
    lo, hi = lock_range(window, pad)
    cells = [
        Interval(start, start + GRID)
        for row in store.query(booking_repo.SCHEDULE, booking_repo.schedule_pk(ws, user),
                               row_key_from=lo, row_key_to=hi, select=["booking_id", "lock_kind"])
        if (exclude_booking is None or row.get("booking_id") != exclude_booking)
        and row.get("lock_kind") != booking_repo.LOCK_KIND_BUFFER
        for start in (cell_start(row["RowKey"]),)
    ]
    return merge(cells)


def _pad(config: CalendarConfig) -> timedelta:
    return timedelta(minutes=config.buffer_before_minutes + config.buffer_after_minutes)


def gather(
    deps: AvailabilityDeps,
    ws: str,
    record: calendar_repo.CalendarRecord,
    users: Iterable[str],
    window: Interval,
    *,
    bookings: bool = True,
    exclude_booking: str | None = None,
    ignore: Interval | None = None,
) -> tuple[dict[str, MemberAvailability], dict[str, list[Interval]]]:
    """Every listed member's free/busy (and bookings when ``bookings``) over ``window``, in parallel.

    ``window`` is the span of the slots considered; reads are widened by the calendar's buffers.
    """
    config = record.config
    before = timedelta(minutes=config.buffer_before_minutes)
    after = timedelta(minutes=config.buffer_after_minutes)
    fb_window = window.padded(before, after)
    members = [m for u in dict.fromkeys(users) if (m := config.member(u)) is not None]
    jobs: list[tuple[str, str, Callable[[], Any]]] = []
    # Outlook reads first (they wait on Graph), then the quick booking queries.
    for m in members:
        if m.calendar_provider in PROVIDERS:
            jobs.append((m.user, "fb", partial(member_free_busy, deps, ws, m, fb_window,
                                               mailbox_hint=record.profile(m.user).get("email"), ignore=ignore)))
    for m in members:
        if bookings:
            jobs.append((m.user, "bk", partial(member_bookings, deps.store, ws, m.user, window, _pad(config),
                                               exclude_booking=exclude_booking)))
    availability = {m.user: MemberAvailability(m.user) for m in members if m.calendar_provider not in PROVIDERS}
    booked: dict[str, list[Interval]] = {m.user: [] for m in members}
    for (user, kind, _), result in zip(jobs, _run_all(deps, [fn for _, _, fn in jobs]), strict=True):
        if kind == "fb":
            availability[user] = result
        else:
            booked[user] = result
    return availability, booked


def _run_all(deps: AvailabilityDeps, calls: list[Callable[[], Any]]) -> list[Any]:
    """Every call's result, in order: at once on a thread pool when there is more than one."""
    if len(calls) <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=max(1, min(deps.max_workers, len(calls))),
                            thread_name_prefix="availability") as pool:
        futures = [pool.submit(call) for call in calls]
        return [f.result() for f in futures]


# ------------------------------------------------------------------ public slots
def find_calendar(store: EntityStore, slug: str, cache: CalendarCache | None = None) -> calendar_repo.CalendarRecord:
    """The calendar behind a public slug (one point read, or ``cache``'s copy), or ``NotFound``."""
    import re

    if not isinstance(slug, str) or not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?", slug):
        raise NotFound("no such calendar")
    record = cache.by_slug(slug) if cache is not None else calendar_repo.get_by_slug(store, slug)
    if record is None:
        raise NotFound("no such calendar")
    return record


def list_slots(deps: AvailabilityDeps, slug: str, start: date, end: date, tz: str | None = None) -> dict[str, Any]:
    """``{"calendar", "timezone", "slots": [{"start", "end"}]}`` for the dates ``start..end`` in ``tz``.

    ``tz`` (default: the calendar's) only decides where the requested days begin and end; slots are
    UTC instants. Storage: the slug row, then per member one lock-range query, plus for Microsoft
    members the connection row, their token and one getSchedule call (split past 61 days), all
    in parallel.
    """
    record = find_calendar(deps.store, slug)
    config = record.config
    zone = tz or config.timezone
    window = window_utc(start, end, ZoneInfo(zone))
    now = deps.clock.now()
    candidates = candidate_slots(config, window, now)
    body: dict[str, Any] = {"calendar": record.public(), "timezone": zone, "slots": []}
    if not candidates:
        return body
    span = Interval(candidates[0].start, max(c.end for c in candidates))
    availability, booked = gather(deps, record.workspace, record, config.users, span)
    offers = free_slots(config, candidates, availability, booked)
    body["slots"] = [{"start": iso_utc(o.interval.start), "end": iso_utc(o.interval.end)} for o in offers]
    log.info("slots of calendar %s/%s: %d of %d candidates free", record.workspace, record.calendar,
             len(offers), len(candidates))
    return body


# ------------------------------------------------------------------ diagnostics
def diagnose_calendar(deps: AvailabilityDeps, record: calendar_repo.CalendarRecord,
                      *, horizon: timedelta = timedelta(days=1)) -> dict[str, Any]:
    """Per member: can free/busy be read (and why not), the Teams connection, and ``ready``/``problems``
    (``shared.domain.readiness``); the calendar is ``ready`` only when nothing stands in the way."""
    now = deps.clock.now()
    window = Interval(floor_to_grid(now), floor_to_grid(now) + horizon)
    entries = _run_all(deps, [partial(_diagnose_member, deps, record, m, window, now) for m in record.config.members])
    return {
        "workspace": record.workspace,
        "calendar": record.calendar,
        "slug": record.config.slug,
        "type": record.config.type.value,
        "members": entries,
        "problems": [*calendar_problems(record.config), *(p for e in entries for p in e["problems"])],
        "ready": not calendar_problems(record.config) and all(e["ready"] for e in entries),
    }


def _diagnose_member(deps: AvailabilityDeps, record: calendar_repo.CalendarRecord, member: MemberConfig,
                     window: Interval, now: datetime) -> dict[str, Any]:
    """One member's entry of :func:`diagnose_calendar`."""
    ws = record.workspace
    teams = status_of(get_connection_row(deps.store, ws, member.user, ConnectionKind.TEAMS.value))
    entry: dict[str, Any] = {
        "user": member.user,
        "meeting_location": member.meeting_location.value,
        "calendar_provider": member.calendar_provider.value,
        "teams_connection": teams.value if teams else "missing",
    }
    if member.calendar_provider in PROVIDERS:
        result = member_free_busy(deps, ws, member, window, mailbox_hint=record.profile(member.user).get("email"))
        entry["free_busy"] = {"readable": result.readable, "reason": result.reason, "checked_at": iso_utc(now)}
    else:
        entry["free_busy"] = {"readable": True,
                              "reason": "no calendar provider: only bookbridge bookings block this member"}
    calendar_row = get_connection_row(deps.store, ws, member.user, ConnectionKind.MICROSOFT_CALENDAR.value)
    if calendar_row and calendar_row.get("status") == "connected":  # rule 26: what the last check found
        entry["linked_calendar"] = linked_calendar.view_of(calendar_row)
    entry["problems"] = member_problems(member.user, entry["meeting_location"], entry["teams_connection"],
                                        entry["free_busy"], linked_calendar.teams_problem(calendar_row)
                                        if entry.get("linked_calendar") else None)
    entry["ready"] = not entry["problems"]
    return entry
