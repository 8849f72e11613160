"""shared.domain.reminders: due times, past reminders, visibility caps and re-queue delays."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain import reminders as r

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_plan_orders_by_offset_and_computes_due_times() -> None:
    start = NOW + timedelta(days=3)
    plan = r.plan_reminders(start, [60, 1440, 60, 15], NOW)
    assert [p.offset_minutes for p in plan] == [1440, 60, 15]
    assert [p.due_at for p in plan] == [start - timedelta(minutes=m) for m in (1440, 60, 15)]
    assert plan[0].delay_seconds == int((start - timedelta(days=1) - NOW).total_seconds())


def test_delays_are_capped_below_the_seven_day_queue_limit() -> None:
    plan = r.plan_reminders(NOW + timedelta(days=30), [1440, 60], NOW)
    assert all(p.delay_seconds == r.MAX_VISIBILITY_SECONDS for p in plan)
    assert r.MAX_VISIBILITY_SECONDS < 7 * 24 * 3600


def test_reminders_already_due_at_scheduling_are_left_out() -> None:
    # booked 30 minutes before the start: the 60-minute reminder is never sent, the 15-minute one is
    plan = r.plan_reminders(NOW + timedelta(minutes=30), [60, 15], NOW)
    assert [p.offset_minutes for p in plan] == [15]
    assert plan[0].delay_seconds == 15 * 60
    assert r.plan_reminders(NOW + timedelta(minutes=60), [60], NOW) == []


def test_nothing_is_planned_once_the_meeting_started() -> None:
    assert r.plan_reminders(NOW, [60], NOW) == []
    assert r.plan_reminders(NOW - timedelta(hours=1), [60], NOW) == []
    assert r.is_too_late(NOW, NOW) and not r.is_too_late(NOW + timedelta(seconds=1), NOW)


@pytest.mark.parametrize("raw", [[0, -5, "x", None, True, 10 ** 9], []])
def test_bad_offsets_are_ignored(raw: list[object]) -> None:
    assert r.clean_offsets(raw) == []


def test_clean_offsets_accepts_numeric_strings_and_dedupes() -> None:
    assert r.clean_offsets(["60", 60, 30]) == [60, 30]


def test_requeue_delay() -> None:
    due = NOW + timedelta(days=20)
    assert r.requeue_delay(due, NOW) == r.MAX_VISIBILITY_SECONDS
    assert r.requeue_delay(due, due - timedelta(hours=2)) == 7200
    assert r.requeue_delay(due, due - timedelta(seconds=61)) == 61
    assert r.requeue_delay(due, due - timedelta(seconds=60)) is None  # within the tolerance: send now
    assert r.requeue_delay(due, due + timedelta(minutes=5)) is None  # late: send now


def test_visibility_delay_rounds_up_and_never_negative() -> None:
    assert r.visibility_delay(NOW + timedelta(milliseconds=1500), NOW) == 2
    assert r.visibility_delay(NOW - timedelta(seconds=5), NOW) == 0


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        r.plan_reminders(datetime(2026, 12, 1, 9, 0), [60], NOW)
