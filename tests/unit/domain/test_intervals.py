"""Interval value type and helpers."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.domain.availability import Interval, merge, subtract
from tests.unit.domain.helpers import utc


def iv(a: int, b: int) -> Interval:
    """Minutes after 2025-06-02 00:00Z."""
    base = utc(2025, 6, 2)
    return Interval(base + timedelta(minutes=a), base + timedelta(minutes=b))


def test_aware_inputs_are_normalised_to_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    i = Interval(datetime(2025, 6, 2, 9, tzinfo=plus2), datetime(2025, 6, 2, 10, tzinfo=plus2))
    assert i.start == utc(2025, 6, 2, 7) and i.start.tzinfo is UTC and i == iv(420, 480)


@pytest.mark.parametrize("start,end", [
    (datetime(2025, 6, 2, 9), datetime(2025, 6, 2, 10, tzinfo=UTC)),
    (utc(2025, 6, 2, 9), datetime(2025, 6, 2, 10)),
    (utc(2025, 6, 2, 9), utc(2025, 6, 2, 9)),
    (utc(2025, 6, 2, 10), utc(2025, 6, 2, 9)),
])
def test_naive_or_empty_intervals_are_refused(start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError):
        Interval(start, end)


def test_overlaps_is_half_open() -> None:
    assert iv(0, 30).overlaps(iv(29, 40)) and iv(29, 40).overlaps(iv(0, 30))
    assert not iv(0, 30).overlaps(iv(30, 40)) and not iv(30, 40).overlaps(iv(0, 30))
    assert iv(0, 60).overlaps(iv(10, 20)) and iv(10, 20).overlaps(iv(0, 60))


def test_contains_and_padded() -> None:
    assert iv(0, 60).contains(iv(0, 60)) and iv(0, 60).contains(iv(10, 20)) and not iv(0, 60).contains(iv(50, 70))
    assert iv(60, 90).padded(timedelta(minutes=10), timedelta(minutes=5)) == iv(50, 95)


def test_merge_joins_overlapping_and_touching_and_sorts() -> None:
    assert merge([iv(50, 60), iv(0, 10), iv(5, 20), iv(20, 30), iv(40, 45), iv(41, 42)]) == [
        iv(0, 30), iv(40, 45), iv(50, 60)]
    assert merge([]) == []


def test_subtract_leaves_the_uncovered_parts() -> None:
    assert subtract(iv(0, 100), [iv(10, 20), iv(15, 30), iv(90, 120), iv(-10, 5)]) == [
        iv(5, 10), iv(30, 90)]
    assert subtract(iv(0, 100), []) == [iv(0, 100)]
    assert subtract(iv(0, 100), [iv(-5, 200)]) == []
    assert subtract(iv(0, 100), [iv(100, 200), iv(-50, 0)]) == [iv(0, 100)]
