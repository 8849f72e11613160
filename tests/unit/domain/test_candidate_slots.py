"""Rule 10: slots from weekly hours in the calendar's timezone, DST-correct, notice, horizon."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.domain.availability import Interval, candidate_slots, window_utc
from shared.domain.calendar_config import CalendarConfig
from tests.unit.domain.helpers import BERLIN, UTC, config, hours, utc

LONG_AGO = utc(2025, 1, 1)
BERLIN_TZ = ZoneInfo(BERLIN)


def starts(slots: list[Interval]) -> list[datetime]:
    return [s.start for s in slots]


def local(slot: Interval, tz: ZoneInfo = BERLIN_TZ) -> str:
    """'HH:MM+hhmm' of the slot start in ``tz``."""
    return slot.start.astimezone(tz).strftime("%H:%M%z")


def day_slots(cfg: CalendarConfig, day: date, now: datetime = LONG_AGO) -> list[Interval]:
    return candidate_slots(cfg, window_utc(day, day, BERLIN), now)


def test_plain_summer_monday_gives_six_half_hours_in_utc() -> None:
    slots = day_slots(config(), date(2025, 6, 2))
    assert starts(slots) == [utc(2025, 6, 2, h, m)
                             for h, m in ((7, 0), (7, 30), (8, 0), (8, 30), (9, 0), (9, 30))]
    assert all(s.duration == timedelta(minutes=30) for s in slots)
    assert slots[-1].end == utc(2025, 6, 2, 10, 0)


def test_winter_monday_uses_standard_offset() -> None:
    slots = day_slots(config(), date(2025, 1, 6))
    assert slots[0].start == utc(2025, 1, 6, 8, 0) and len(slots) == 6


def test_weekend_without_hours_has_no_slots() -> None:
    assert day_slots(config(), date(2025, 6, 7)) == []


def test_interval_shorter_than_duration_keeps_every_slot_inside_the_range() -> None:
    cfg = config(duration_minutes=60, slot_interval_minutes=30)
    slots = day_slots(cfg, date(2025, 6, 2))
    assert [local(s) for s in slots] == ["09:00+0200", "09:30+0200", "10:00+0200", "10:30+0200", "11:00+0200"]
    assert slots[-1].end == utc(2025, 6, 2, 10, 0)


def test_slot_that_would_overrun_the_range_end_is_dropped() -> None:
    cfg = config(weekly_hours={"monday": hours(("09:00", "10:45"))})
    assert [local(s) for s in day_slots(cfg, date(2025, 6, 2))] == ["09:00+0200", "09:30+0200", "10:00+0200"]


def test_several_ranges_per_day_and_range_ending_at_midnight() -> None:
    cfg = config(weekly_hours={"monday": hours(("09:00", "10:00"), ("23:00", "24:00"))})
    slots = day_slots(cfg, date(2025, 6, 2))
    assert [local(s) for s in slots] == ["09:00+0200", "09:30+0200", "23:00+0200", "23:30+0200"]
    assert slots[-1].end == utc(2025, 6, 2, 22, 0)  # local midnight


def test_overlapping_ranges_do_not_duplicate_slots() -> None:
    cfg = config(weekly_hours={"monday": hours(("09:00", "11:00"), ("10:00", "12:00"))})
    slots = day_slots(cfg, date(2025, 6, 2))
    assert len(slots) == len(set(slots)) == 6 and slots == sorted(slots)


# ---------------------------------------------------------------- DST, Europe/Berlin
NIGHT = {"sunday": hours(("00:00", "04:00"))}


def test_spring_forward_day_skips_the_missing_hour() -> None:
    slots = day_slots(config(weekly_hours=NIGHT), date(2025, 3, 30))  # last Sunday of March
    assert [local(s) for s in slots] == [
        "00:00+0100", "00:30+0100", "01:00+0100", "01:30+0100", "03:00+0200", "03:30+0200"]
    assert starts(slots) == [utc(2025, 3, 29, 23, 0), utc(2025, 3, 29, 23, 30), utc(2025, 3, 30, 0, 0),
                             utc(2025, 3, 30, 0, 30), utc(2025, 3, 30, 1, 0), utc(2025, 3, 30, 1, 30)]
    # a normal Sunday has all eight
    assert len(day_slots(config(weekly_hours=NIGHT), date(2025, 3, 23))) == 8


def test_0230_does_not_exist_in_spring() -> None:
    cfg = config(weekly_hours={"sunday": hours(("02:30", "03:30"))})
    slots = day_slots(cfg, date(2025, 3, 30))
    # of the wall times 02:30 and 03:00 only 03:00 (CEST) exists
    assert [local(s) for s in slots] == ["03:00+0200"]
    assert all(s.start.astimezone(BERLIN_TZ).hour != 2 for s in slots)


def test_spring_forward_slot_crossing_the_gap_lasts_real_duration() -> None:
    cfg = config(weekly_hours={"sunday": hours(("01:00", "04:00"))}, duration_minutes=60)
    slots = day_slots(cfg, date(2025, 3, 30))
    assert [(local(s), s.duration) for s in slots] == [
        ("01:00+0100", timedelta(hours=1)), ("01:30+0100", timedelta(hours=1)), ("03:00+0200", timedelta(hours=1))]
    # 03:30 CEST + 60 min = 04:30 local: past the range end, dropped
    assert slots[-1].end == utc(2025, 3, 30, 2, 0)


def test_spring_range_ending_inside_the_gap_ends_when_the_clocks_jump() -> None:
    cfg = config(weekly_hours={"sunday": hours(("01:00", "02:30"))})
    slots = day_slots(cfg, date(2025, 3, 30))
    assert [local(s) for s in slots] == ["01:00+0100", "01:30+0100"]
    assert slots[-1].end == utc(2025, 3, 30, 1, 0)  # 03:00 CEST, the jump
    # a 60-minute slot from 01:30 CET would end at 03:30 CEST, past the (nonexistent) 02:30 end
    longer = day_slots(replace(cfg, duration_minutes=60), date(2025, 3, 30))
    assert [(s.start, s.end) for s in longer] == [(utc(2025, 3, 30, 0, 0), utc(2025, 3, 30, 1, 0))]


def test_fall_back_day_offers_the_repeated_hour_once_with_fold_0() -> None:
    slots = day_slots(config(weekly_hours=NIGHT), date(2025, 10, 26))  # last Sunday of October
    assert [local(s) for s in slots] == [
        "00:00+0200", "00:30+0200", "01:00+0200", "01:30+0200",
        "02:00+0200", "02:30+0200", "03:00+0100", "03:30+0100"]
    assert utc(2025, 10, 26, 0, 0) in starts(slots)  # 02:00 CEST, first occurrence
    assert not [s for s in slots if utc(2025, 10, 26, 1, 0) <= s.start < utc(2025, 10, 26, 2, 0)]


def test_fall_back_slot_crossing_the_change_lasts_real_duration() -> None:
    cfg = config(weekly_hours={"sunday": hours(("02:00", "03:00"))}, duration_minutes=60)
    slots = day_slots(cfg, date(2025, 10, 26))
    # the wall range 02:00-03:00 lasts two real hours today (00:00Z-02:00Z): 02:00 CEST + 60 min
    # = 02:00 CET and 02:30 CEST + 60 min = 02:30 CET both end before 03:00 CET
    assert [(s.start, s.end) for s in slots] == [(utc(2025, 10, 26, 0, 0), utc(2025, 10, 26, 1, 0)),
                                                 (utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 1, 30))]
    assert [local(s) for s in slots] == ["02:00+0200", "02:30+0200"]


def test_business_hours_follow_the_offset_across_both_changes() -> None:
    cfg = config(weekly_hours={"sunday": hours(("09:00", "12:00"))})
    for day, first_utc_hour in ((date(2025, 3, 23), 8), (date(2025, 3, 30), 7),
                                (date(2025, 10, 19), 7), (date(2025, 10, 26), 8)):
        slots = day_slots(cfg, day)
        assert len(slots) == 6 and slots[0].start == datetime(day.year, day.month, day.day, first_utc_hour,
                                                              tzinfo=UTC), day


# ---------------------------------------------------------------- invitee timezone
def test_window_is_the_dates_in_the_invitees_timezone() -> None:
    assert window_utc(date(2025, 6, 2), date(2025, 6, 3), "America/New_York") == Interval(
        utc(2025, 6, 2, 4), utc(2025, 6, 4, 4))
    us_spring = window_utc(date(2025, 3, 9), date(2025, 3, 9), "America/New_York")
    assert us_spring.duration == timedelta(hours=23)
    # Santiago: local midnight does not exist on 2025-09-07; the day starts when clocks jump
    assert window_utc(date(2025, 9, 7), date(2025, 9, 7), "America/Santiago").start == utc(2025, 9, 7, 4)
    with pytest.raises(ValueError):
        window_utc(date(2025, 6, 3), date(2025, 6, 2), "UTC")


def test_new_york_invitee_sees_berlin_early_morning_on_their_evening_date() -> None:
    cfg = config(weekly_hours={"tuesday": hours(("00:00", "03:00")), "monday": hours(("09:00", "10:00"))})
    ny_monday = window_utc(date(2025, 6, 2), date(2025, 6, 2), "America/New_York")
    slots = candidate_slots(cfg, ny_monday, LONG_AGO)
    # Berlin Monday 09:00-10:00 = 07:00Z-08:00Z; Berlin Tuesday 00:00-03:00 = Monday 22:00Z-Tuesday 01:00Z
    assert starts(slots) == [utc(2025, 6, 2, 7, 0), utc(2025, 6, 2, 7, 30),
                             utc(2025, 6, 2, 22, 0), utc(2025, 6, 2, 22, 30), utc(2025, 6, 2, 23, 0),
                             utc(2025, 6, 2, 23, 30), utc(2025, 6, 3, 0, 0), utc(2025, 6, 3, 0, 30)]
    ny = ZoneInfo("America/New_York")
    assert {s.start.astimezone(ny).date() for s in slots} == {date(2025, 6, 2)}
    # asked as a Berlin date, Monday holds only the morning hour
    assert len(day_slots(cfg, date(2025, 6, 2))) == 2


def test_pacific_invitee_date_range_cuts_berlin_days() -> None:
    tokyo_monday = window_utc(date(2025, 6, 2), date(2025, 6, 2), "Asia/Tokyo")  # Sun 15:00Z - Mon 15:00Z
    slots = candidate_slots(config(), tokyo_monday, LONG_AGO)
    assert starts(slots)[0] == utc(2025, 6, 2, 7) and len(slots) == 6
    tokyo_tuesday = window_utc(date(2025, 6, 3), date(2025, 6, 3), "Asia/Tokyo")
    assert starts(candidate_slots(config(), tokyo_tuesday, LONG_AGO))[0] == utc(2025, 6, 3, 7)


# ---------------------------------------------------------------- notice and horizon
def test_minimum_notice_hides_slots_starting_too_soon() -> None:
    now = utc(2025, 6, 2, 7, 10)  # 09:10 Berlin
    assert [local(s) for s in day_slots(config(minimum_notice_minutes=60), date(2025, 6, 2), now)] == [
        "10:30+0200", "11:00+0200", "11:30+0200"]
    assert len(day_slots(config(minimum_notice_minutes=0), date(2025, 6, 2), now)) == 5  # past 09:00 gone


def test_minimum_notice_boundary_is_inclusive() -> None:
    now = utc(2025, 6, 2, 7, 10)
    slots = day_slots(config(minimum_notice_minutes=50), date(2025, 6, 2), now)
    assert slots[0].start == utc(2025, 6, 2, 8, 0)  # exactly now + notice


def test_max_days_ahead_limits_the_horizon() -> None:
    now = utc(2025, 6, 2, 0, 0)
    week = window_utc(date(2025, 6, 2), date(2025, 6, 8), BERLIN)
    slots = candidate_slots(config(max_days_ahead=2), week, now)
    assert {s.start.date() for s in slots} == {date(2025, 6, 2), date(2025, 6, 3)} and len(slots) == 12
    assert len(candidate_slots(config(max_days_ahead=30), week, now)) == 30


def test_max_days_ahead_boundary_is_exclusive() -> None:
    now = utc(2025, 6, 2, 7, 0)  # exactly the first Monday slot
    week = window_utc(date(2025, 6, 2), date(2025, 6, 8), BERLIN)
    slots = candidate_slots(config(max_days_ahead=1), week, now)
    assert slots[0].start == now and utc(2025, 6, 3, 7, 0) not in starts(slots) and len(slots) == 6


def test_window_in_the_past_or_beyond_horizon_is_empty() -> None:
    assert day_slots(config(), date(2025, 6, 2), now=utc(2025, 6, 3)) == []
    assert day_slots(config(max_days_ahead=1), date(2025, 6, 20), now=utc(2025, 6, 1)) == []


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        candidate_slots(config(), window_utc(date(2025, 6, 2), date(2025, 6, 2), BERLIN), datetime(2025, 6, 1))
