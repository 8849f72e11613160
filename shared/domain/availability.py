"""Rules 10-12: which slots a calendar offers. Pure: stdlib, ``zoneinfo``, no I/O.

Pipeline: :func:`window_utc` turns the invitee's requested dates into a UTC window,
:func:`candidate_slots` lays the weekly hours over it, and :func:`free_slots` removes what each
member's bookings, buffers and provider free/busy forbid.

Decisions (documented here once):

* **Wall-clock generation.** Slots step by ``slot_interval_minutes`` in local wall time from each
  weekly range's start, in the calendar's timezone. A wall time that does not exist (spring-forward
  gap, e.g. 02:30 in Europe/Berlin on the last Sunday of March) gives no slot. An ambiguous wall
  time (fall-back, e.g. 02:30 on the last Sunday of October) is read with ``fold=0``, its first
  occurrence, so the repeated hour is offered once, never twice. A slot ends at
  ``start_utc + duration`` (real elapsed time) and must end no later than the range's end, read the
  same way (``fold=0``; a range end inside a gap means the instant the clocks jump).
* **Window.** A slot is listed when its start lies in the window, ``start >= now + notice`` and
  ``start < now + max_days_ahead days``.
* **Free/busy statuses.** ``busy``, ``tentative`` and ``oof`` block; ``free``, ``workingElsewhere``
  and ``unknown`` do not. ``unknown`` is an item-level value Graph uses when an item carries no
  show-as; a schedule that cannot be read at all is the separate, fail-closed case
  (``MemberAvailability.readable == False``). Any other value, including null, blocks (fail closed).
* **Buffers.** A slot ``[s, e)`` conflicts with a blocking busy time ``[bs, be)`` when
  ``[s - before, e + after)`` overlaps it; with an existing booking also when ``[s, e)`` overlaps
  ``[bs - before, be + after)``: no booking may lie inside another booking's buffers, buffers may
  overlap each other. Existing bookings are assumed to carry this calendar's buffers.
* **Members.** Collective calendars need every member free; every other type needs at least one
  (a one-member calendar: that member). A member that could not be read is entirely busy; a member
  missing from the availability mapping counts as unreadable unless its provider is ``none``.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.domain.calendar_config import WEEKDAYS, CalendarConfig
from shared.domain.model import CalendarProvider, CalendarType

UTC = UTC
NON_BLOCKING_STATUSES = frozenset({"free", "workingElsewhere", "unknown"})
_NON_BLOCKING_FOLDED = frozenset(s.casefold() for s in NON_BLOCKING_STATUSES)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


@dataclass(frozen=True, order=True)
class Interval:
    """A non-empty half-open UTC time interval ``[start, end)``; aware inputs are converted to UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _require_aware(self.start, "start")
        _require_aware(self.end, "end")
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))
        if self.end <= self.start:
            raise ValueError(f"interval end {self.end} is not after start {self.start}")

    @property
    def duration(self) -> timedelta:
        """``end - start``."""
        return self.end - self.start

    def overlaps(self, other: Interval) -> bool:
        """True when the two share any instant (touching intervals do not overlap)."""
        return self.start < other.end and other.start < self.end

    def contains(self, other: Interval) -> bool:
        """True when ``other`` lies entirely inside this interval."""
        return self.start <= other.start and other.end <= self.end

    def padded(self, before: timedelta, after: timedelta) -> Interval:
        """``[start - before, end + after)``."""
        return Interval(self.start - before, self.end + after)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint intervals covering the same instants (overlapping or touching ones joined)."""
    merged: list[Interval] = []
    for current in sorted(intervals):
        if merged and current.start <= merged[-1].end:
            if current.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, current.end)
        else:
            merged.append(current)
    return merged


def subtract(base: Interval, holes: Iterable[Interval]) -> list[Interval]:
    """The parts of ``base`` not covered by any of ``holes``, sorted."""
    parts: list[Interval] = []
    cursor = base.start
    for hole in merge(holes):
        if hole.end <= cursor or hole.start >= base.end:
            continue
        if hole.start > cursor:
            parts.append(Interval(cursor, hole.start))
        cursor = max(cursor, hole.end)
    if cursor < base.end:
        parts.append(Interval(cursor, base.end))
    return parts


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def _wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """UTC of a naive local wall time (``fold=0`` if ambiguous), or ``None`` if it does not exist."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return instant if instant.astimezone(zone).replace(tzinfo=None) == wall else None


def _boundary_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """UTC of a wall-clock boundary; inside a gap, the instant the clocks jump past it."""
    existing = _wall_to_utc(wall, zone)
    if existing is not None:
        return existing
    a = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    b = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    base = min(a, b)  # the wall clock reads < wall at base and >= wall at max(a, b)
    lo, hi = 0, int((max(a, b) - base).total_seconds())
    while hi - lo > 1:  # bisect on whole seconds for the first instant reading >= wall
        mid = (lo + hi) // 2
        if (base + timedelta(seconds=mid)).astimezone(zone).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return base + timedelta(seconds=hi)


def window_utc(start_date: date, end_date: date, tz: str | ZoneInfo) -> Interval:
    """The UTC window ``[start_date 00:00, (end_date + 1 day) 00:00)`` of the dates in ``tz``.

    ``tz`` is the timezone the dates were asked in (the invitee's ``timezone`` parameter); an unknown
    name raises ``zoneinfo.ZoneInfoNotFoundError`` (check with ``is_valid_timezone`` first).
    """
    if end_date < start_date:
        raise ValueError("end_date is before start_date")
    zone = _zone(tz)
    start = _boundary_to_utc(datetime.combine(start_date, time()), zone)
    end = _boundary_to_utc(datetime.combine(end_date + timedelta(days=1), time()), zone)
    return Interval(start, end)


def candidate_slots(config: CalendarConfig, window: Interval, now: datetime) -> list[Interval]:
    """Slots of the weekly hours starting inside ``window``, after the minimum notice, within
    ``max_days_ahead``; sorted, without duplicates. See the module doc for DST handling."""
    _require_aware(now, "now")
    duration = timedelta(minutes=config.duration_minutes)
    step = timedelta(minutes=config.slot_interval_minutes)
    if duration <= timedelta(0) or step <= timedelta(0):
        raise ValueError("duration and slot interval must be positive")
    zone = _zone(config.timezone)
    earliest = max(window.start, now + timedelta(minutes=config.minimum_notice_minutes))
    latest = min(window.end, now + timedelta(days=config.max_days_ahead))
    if earliest >= latest:
        return []
    slots: set[Interval] = set()
    day, last_day = earliest.astimezone(zone).date(), latest.astimezone(zone).date()
    while day <= last_day:
        midnight = datetime.combine(day, time())
        for r in config.weekly_hours.get(WEEKDAYS[day.weekday()], ()):
            if r.end_minutes <= r.start_minutes:
                continue
            range_end_wall = midnight + timedelta(minutes=r.end_minutes)
            range_end = _boundary_to_utc(range_end_wall, zone)
            wall = midnight + timedelta(minutes=r.start_minutes)
            while wall < range_end_wall:
                start = _wall_to_utc(wall, zone)
                if start is not None and earliest <= start < latest and start + duration <= range_end:
                    slots.add(Interval(start, start + duration))
                wall += step
        day += timedelta(days=1)
    return sorted(slots)


def status_blocks(status: str | None) -> bool:
    """Whether a Graph ``freeBusyStatus`` blocks a slot (unrecognised values and null do: fail closed).

    Compared without case: getSchedule answers ``"Free"``/``"Busy"`` in its examples ("calendar: getSchedule").
    """
    return not isinstance(status, str) or status.strip().casefold() not in _NON_BLOCKING_FOLDED


@dataclass(frozen=True)
class BusyBlock:
    """One item of a provider's schedule (Graph ``scheduleItem``) with its free/busy status."""

    start: datetime
    end: datetime
    status: str | None

    @property
    def blocks(self) -> bool:
        """True when this item makes its time unavailable."""
        return status_blocks(self.status)


def blocking_intervals(blocks: Iterable[BusyBlock]) -> list[Interval]:
    """The merged times of the blocking items; zero-length items are ignored."""
    return merge(Interval(b.start, b.end) for b in blocks if b.blocks and b.end > b.start)


@dataclass(frozen=True)
class MemberAvailability:
    """A member's provider free/busy: the blocking intervals, or unreadable (then entirely busy)."""

    user: str
    busy: tuple[Interval, ...] = ()
    readable: bool = True
    reason: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "busy", tuple(self.busy))

    @classmethod
    def from_blocks(cls, user: str, blocks: Iterable[BusyBlock]) -> MemberAvailability:
        """Readable availability from schedule items (only blocking statuses are kept)."""
        return cls(user, tuple(blocking_intervals(blocks)))

    @classmethod
    def unreadable(cls, user: str, reason: str) -> MemberAvailability:
        """Fail closed: the member is busy all the time; ``reason`` is shown to admins."""
        return cls(user, (), readable=False, reason=reason)


@dataclass(frozen=True)
class SlotOffer:
    """A slot offered to invitees, with the members free for it (in configuration order)."""

    interval: Interval
    free_members: tuple[str, ...]


def requires_every_member(calendar_type: CalendarType) -> bool:
    """Collective calendars need all members free; the others need at least one."""
    return calendar_type is CalendarType.COLLECTIVE


class _Blocked:
    """A member's forbidden slot positions as merged intervals, queried with bisect."""

    def __init__(self, intervals: Iterable[Interval] | None) -> None:
        self.everything = intervals is None
        self.intervals = merge(intervals or ())
        self.ends = [i.end for i in self.intervals]

    def allows(self, slot: Interval) -> bool:
        if self.everything:
            return False
        i = bisect_right(self.ends, slot.start)
        return i >= len(self.intervals) or self.intervals[i].start >= slot.end


def _blocked_for(config: CalendarConfig, user: str, availability: MemberAvailability | None,
                 bookings: Iterable[Interval]) -> _Blocked:
    """Where a slot may not be placed for ``user``: busy times and bookings widened by the buffers."""
    member = config.member(user)
    if availability is None and (member is None or member.calendar_provider is not CalendarProvider.NONE):
        return _Blocked(None)
    if availability is not None and not availability.readable:
        return _Blocked(None)
    before = timedelta(minutes=config.buffer_before_minutes)
    after = timedelta(minutes=config.buffer_after_minutes)
    # [s - before, e + after) overlaps [bs, be)  <=>  [s, e) overlaps [bs - after, be + before)
    forbidden = [b.padded(after, before) for b in (availability.busy if availability else ())]
    for booking in bookings:
        forbidden += [booking.padded(after, before), booking.padded(before, after)]
    return _Blocked(forbidden)


def member_is_free(config: CalendarConfig, user: str, slot: Interval,
                   availability: MemberAvailability | None, bookings: Iterable[Interval]) -> bool:
    """Whether ``user`` may take ``slot`` (the re-check at confirmation, rule 11); same rules as
    :func:`free_slots`, so ``availability=None`` is unreadable unless the member's provider is ``none``."""
    return _blocked_for(config, user, availability, bookings).allows(slot)


def free_slots(
    config: CalendarConfig,
    candidates: Iterable[Interval],
    members_availability: Mapping[str, MemberAvailability],
    existing_bookings_by_member: Mapping[str, Sequence[Interval]],
) -> list[SlotOffer]:
    """The candidates the calendar's members can take (rules 10-12), with who is free for each.

    ``existing_bookings_by_member``: the confirmed bookings of each member (excluding the booking
    being rescheduled), from every calendar.
    """
    users = config.users
    if not users:
        return []
    blocked = {u: _blocked_for(config, u, members_availability.get(u), existing_bookings_by_member.get(u, ()))
               for u in users}
    need_all = requires_every_member(config.type)
    offers: list[SlotOffer] = []
    for slot in sorted(set(candidates)):
        free = tuple(u for u in users if blocked[u].allows(slot))
        if free and (not need_all or len(free) == len(users)):
            offers.append(SlotOffer(slot, free))
    return offers
