"""Rule 13: 5-minute lock cells; overlapping intervals share a cell, touching ones do not."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.domain.slot_locks import ceil_to_grid, floor_to_grid, lock_cells
from tests.unit.domain.helpers import utc

BASE = utc(2025, 6, 2, 9)


def test_cells_cover_the_interval_with_row_key_format() -> None:
    assert lock_cells(utc(2025, 6, 2, 10), utc(2025, 6, 2, 10, 30)) == [
        f"lock|20250602T10{m:02d}Z" for m in (0, 5, 10, 15, 20, 25)]


def test_unaligned_bounds_floor_the_start_and_ceil_the_end() -> None:
    start = datetime(2025, 6, 2, 10, 2, 30, tzinfo=UTC)
    assert lock_cells(start, utc(2025, 6, 2, 10, 7)) == ["lock|20250602T1000Z", "lock|20250602T1005Z"]
    assert lock_cells(start, start + timedelta(seconds=1)) == ["lock|20250602T1000Z"]


def test_non_utc_aware_input_is_converted_and_day_boundary_crossed() -> None:
    plus2 = timezone(timedelta(hours=2))
    assert lock_cells(datetime(2025, 6, 3, 1, 55, tzinfo=plus2), datetime(2025, 6, 3, 2, 5, tzinfo=plus2)) == [
        "lock|20250602T2355Z", "lock|20250603T0000Z"]


def test_refuses_naive_and_empty_intervals() -> None:
    with pytest.raises(ValueError):
        lock_cells(datetime(2025, 6, 2, 10), utc(2025, 6, 2, 11))
    with pytest.raises(ValueError):
        lock_cells(utc(2025, 6, 2, 11), utc(2025, 6, 2, 11))


def test_grid_helpers() -> None:
    t = datetime(2025, 6, 2, 10, 9, 59, 999999, tzinfo=UTC)
    assert floor_to_grid(t) == utc(2025, 6, 2, 10, 5) and ceil_to_grid(t) == utc(2025, 6, 2, 10, 10)
    assert ceil_to_grid(utc(2025, 6, 2, 10, 5)) == utc(2025, 6, 2, 10, 5)


def _random_interval(rng: random.Random, *, aligned: bool) -> tuple[datetime, datetime]:
    unit = 300 if aligned else 1
    start = BASE + timedelta(seconds=unit * rng.randrange(0, 4 * 3600 // unit))
    return start, start + timedelta(seconds=unit * rng.randrange(1, 2 * 3600 // unit))


def _overlap(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_property_overlapping_intervals_always_share_a_cell() -> None:
    rng = random.Random(1310)
    checked = 0
    for _ in range(3000):
        a, b = _random_interval(rng, aligned=False), _random_interval(rng, aligned=False)
        if _overlap(a, b):
            checked += 1
            assert set(lock_cells(*a)) & set(lock_cells(*b)), (a, b)
    assert checked > 300


def test_property_grid_aligned_intervals_share_a_cell_exactly_when_they_overlap() -> None:
    rng = random.Random(13)
    seen = {True: 0, False: 0}
    for _ in range(3000):
        a, b = _random_interval(rng, aligned=True), _random_interval(rng, aligned=True)
        shares = bool(set(lock_cells(*a)) & set(lock_cells(*b)))
        assert shares == _overlap(a, b), (a, b)
        seen[shares] += 1
    assert seen[True] > 300 and seen[False] > 300


def test_property_touching_aligned_intervals_share_no_cell() -> None:
    rng = random.Random(7)
    for _ in range(500):
        start, middle = _random_interval(rng, aligned=True)
        end = middle + timedelta(minutes=5 * rng.randrange(1, 30))
        assert not set(lock_cells(start, middle)) & set(lock_cells(middle, end)), (start, middle, end)


def test_touching_off_grid_intervals_conservatively_share_the_boundary_cell() -> None:
    middle = utc(2025, 6, 2, 10, 2)
    assert set(lock_cells(utc(2025, 6, 2, 10), middle)) & set(lock_cells(middle, utc(2025, 6, 2, 10, 30))) == {
        "lock|20250602T1000Z"}


def test_a_booking_locks_its_buffer_tail_the_longer_buffer_past_its_end() -> None:
    """Issue 15 point 7: two bookings need max(before, after) between them in either order (buffers may overlap
    buffers, never a meeting): extending each by that on one side makes their locks collide exactly then."""
    from shared.domain.slot_locks import booking_cells, buffer_tail

    tail = buffer_tail(15, 10)
    a = booking_cells(utc(2025, 6, 2, 10), utc(2025, 6, 2, 10, 30), tail)
    assert a.meeting == tuple(f"lock|20250602T10{m:02d}Z" for m in range(0, 30, 5))
    assert a.buffer == ("lock|20250602T1030Z", "lock|20250602T1035Z", "lock|20250602T1040Z")
    assert a.is_buffer("lock|20250602T1035Z") and not a.is_buffer("lock|20250602T1025Z")

    def clash(start_a: datetime, start_b: datetime) -> bool:
        one = booking_cells(start_a, start_a + timedelta(minutes=30), tail).all
        two = booking_cells(start_b, start_b + timedelta(minutes=30), tail).all
        return bool(set(one) & set(two))

    ten = utc(2025, 6, 2, 10)
    for gap in range(0, 60, 5):  # the second booking starts ``gap`` minutes after the first ends, either order
        later = ten + timedelta(minutes=30 + gap)
        assert clash(ten, later) is (gap < 15) and clash(later, ten) is (gap < 15), gap
    assert booking_cells(ten, ten + timedelta(minutes=30)).buffer == ()
