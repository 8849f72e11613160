"""Outlook free/busy over Microsoft Graph: ``POST /me/calendar/getSchedule``.

Graph limits one call to at most 20 schedules and a range under 62 days; :func:`get_schedule`
splits larger asks into several calls and joins the answers per schedule. The request body uses
only the action's parameter names (``schedules``, ``startTime``, ``endTime``,
``availabilityViewInterval``) and ``dateTimeTimeZone`` values (``dateTime``, ``timeZone``), in UTC;
the ``Prefer: outlook.timezone="UTC"`` header asks for the answer's times in UTC too.

Each schedule's answer is its ``scheduleItems`` (start, end, status) as domain ``BusyBlock``\\ s;
when Graph gives no items but an ``availabilityView`` string, that string is read instead (one
digit per interval: 0 free, 1 tentative, 2 busy, 3 oof, 4 workingElsewhere). A schedule that Graph
answers with an ``error`` (or not at all) is reported unreadable, never as free.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.domain.availability import BusyBlock
from shared.errors import GraphRejected

MAX_SCHEDULES_PER_CALL = 20
MAX_RANGE = timedelta(days=61)  # Graph: "under 62 days"
DEFAULT_VIEW_INTERVAL_MINUTES = 15
SCHEDULE_PATH = "/me/calendar/getSchedule"
_VIEW_STATUS = {"0": "free", "1": "tentative", "2": "busy", "3": "oof", "4": "workingElsewhere"}
_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass
class ScheduleResult:
    """One schedule's free/busy: ``blocks`` when readable, else ``error`` (a reason for admins)."""

    schedule_id: str
    blocks: list[BusyBlock] = field(default_factory=list)
    error: str | None = None

    @property
    def readable(self) -> bool:
        """True when Graph answered this schedule without an error."""
        return self.error is None


def _graph_datetime(value: datetime) -> dict[str, str]:
    return {"dateTime": value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def parse_graph_datetime(value: Any) -> datetime:
    """A Graph ``dateTimeTimeZone`` as aware UTC; an unknown zone raises ``GraphRejected`` (fail closed)."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise GraphRejected("getSchedule answered a schedule item without a dateTime")
    text = value["dateTime"].strip()
    text = _FRACTION.sub(lambda m: m.group(1), text)  # Graph writes 7 digits; Python reads 6
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise GraphRejected("getSchedule answered an unreadable dateTime") from None
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    zone_name = (value.get("timeZone") or "UTC").strip()
    if zone_name.upper() in {"UTC", "ETC/UTC", "Z", "COORDINATED UNIVERSAL TIME", "GMT"}:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.replace(tzinfo=ZoneInfo(zone_name)).astimezone(UTC)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise GraphRejected(f"getSchedule answered times in an unknown timezone {zone_name[:60]!r}") from None


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _ranges(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    cursor = start
    while cursor < end:
        stop = min(end, cursor + MAX_RANGE)
        yield cursor, stop
        cursor = stop


def _blocks_from_view(view: str, start: datetime, end: datetime, interval: int) -> list[BusyBlock]:
    blocks: list[BusyBlock] = []
    step = timedelta(minutes=interval)
    for i, digit in enumerate(view):
        cell_start = start + i * step
        if cell_start >= end:
            break
        blocks.append(BusyBlock(cell_start, min(end, cell_start + step), _VIEW_STATUS.get(digit, None)))
    return blocks


def _read_one(item: dict[str, Any], start: datetime, end: datetime, interval: int) -> ScheduleResult:
    sid = str(item.get("scheduleId") or "")
    err = item.get("error")
    if err:
        code = err.get("responseCode") if isinstance(err, dict) else None
        message = err.get("message") if isinstance(err, dict) else None
        return ScheduleResult(sid, error=f"Outlook could not read this calendar: {code or message or 'error'}"[:300])
    items = item.get("scheduleItems")
    if isinstance(items, list):
        blocks = [
            BusyBlock(parse_graph_datetime(si.get("start")), parse_graph_datetime(si.get("end")), si.get("status"))
            for si in items
            if isinstance(si, dict)
        ]
        return ScheduleResult(sid, blocks)
    view = item.get("availabilityView")
    if isinstance(view, str):
        return ScheduleResult(sid, _blocks_from_view(view, start, end, interval))
    return ScheduleResult(sid, error="Outlook answered no free/busy for this calendar")


def schedule_request_body(schedules: Sequence[str], start: datetime, end: datetime,
                          interval_minutes: int = DEFAULT_VIEW_INTERVAL_MINUTES) -> dict[str, Any]:
    """The JSON body of one getSchedule call (Graph's own parameter names only)."""
    return {
        "schedules": list(schedules),
        "startTime": _graph_datetime(start),
        "endTime": _graph_datetime(end),
        "availabilityViewInterval": interval_minutes,
    }


def get_schedule(
    graph: Any,
    token: str,
    schedules: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    interval_minutes: int = DEFAULT_VIEW_INTERVAL_MINUTES,
) -> dict[str, ScheduleResult]:
    """Free/busy of ``schedules`` (SMTP addresses) over ``[start, end)``, keyed by lower-cased address.

    Calls ``graph.request`` (a ``GraphClient``) once per 20 schedules per 61 days. Errors of the
    whole call (throttling, 401, ...) propagate as ``shared.errors``; a schedule Graph leaves out
    or answers with an error is returned unreadable.
    """
    if end <= start:
        raise ValueError("end must be after start")
    wanted = list(dict.fromkeys(s.strip() for s in schedules if s and s.strip()))
    results: dict[str, ScheduleResult] = {s.lower(): ScheduleResult(s) for s in wanted}
    for group in _chunks(wanted, MAX_SCHEDULES_PER_CALL):
        for lo, hi in _ranges(start, end):
            _, body = graph.request(
                "POST",
                SCHEDULE_PATH,
                token,
                json_body=schedule_request_body(group, lo, hi, interval_minutes),
                headers={"Prefer": 'outlook.timezone="UTC"'},
            )
            answered: dict[str, dict[str, Any]] = {}
            values = body.get("value") if isinstance(body, dict) else None
            for item in values if isinstance(values, list) else []:
                if isinstance(item, dict):
                    answered[str(item.get("scheduleId") or "").lower()] = item
            if len(group) == 1 and len(answered) == 1 and group[0].lower() not in answered:
                answered = {group[0].lower(): next(iter(answered.values()))}  # an alias answered
            for address in group:
                key = address.lower()
                current = results[key]
                if current.error:
                    continue
                item = answered.get(key)
                if item is None:
                    current.error = "Outlook did not answer for this calendar"
                    current.blocks = []
                    continue
                part = _read_one(item, lo, hi, interval_minutes)
                if part.error:
                    current.error, current.blocks = part.error, []
                else:
                    current.blocks.extend(part.blocks)
    return results
