"""Rule 11: round-robin assignment to the free member booked least recently (and weights)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from shared.domain.assignment import choose_round_robin_member, is_weighted
from tests.unit.domain.helpers import utc

T0 = utc(2025, 6, 2, 9)


def simulate(members: list[str], bookings: int, *, weights: dict[str, int] | None = None,
             free_for: Callable[[int], list[str]] | None = None) -> list[str]:
    """Book ``bookings`` times, feeding the choice back into last_booked_at and counts."""
    last: dict[str, datetime | None] = {}
    counts: Counter[str] = Counter()
    chosen: list[str] = []
    for n in range(bookings):
        free = free_for(n) if free_for else members
        user = choose_round_robin_member(free, last, weights, dict(counts))
        chosen.append(user)
        last[user] = T0 + timedelta(minutes=n)
        counts[user] += 1
    return chosen


def test_thirty_bookings_rotate_evenly_least_recent_first() -> None:
    chosen = simulate(["carol", "alice", "bob"], 30)
    assert chosen[:6] == ["alice", "bob", "carol", "alice", "bob", "carol"]
    assert Counter(chosen) == {"alice": 10, "bob": 10, "carol": 10}


def test_choice_is_always_the_least_recently_booked_free_member() -> None:
    members = ["alice", "bob", "carol", "dave"]
    chosen = simulate(members, 30, free_for=lambda n: [m for i, m in enumerate(members) if (n + i) % 3])
    last: dict[str, int] = {}
    for n, user in enumerate(chosen):
        free = [m for i, m in enumerate(members) if (n + i) % 3]
        assert user in free
        never = [m for m in free if m not in last]
        expected = min(never) if never else min(free, key=lambda m: last[m])
        assert user == expected, n
        last[user] = n
    assert set(chosen) == set(members)


def test_never_booked_beats_booked_long_ago_and_ties_break_by_user_id() -> None:
    long_ago = utc(2020, 1, 1)
    assert choose_round_robin_member(["alice", "zed"], {"alice": long_ago, "zed": None}) == "zed"
    assert choose_round_robin_member(["bob", "alice"], {"alice": T0, "bob": T0}) == "alice"
    assert choose_round_robin_member(["alice", "bob"], {"alice": T0, "bob": long_ago}) == "bob"
    assert choose_round_robin_member(["bob"], {"alice": long_ago, "bob": T0}) == "bob"


def test_weights_two_to_one_over_thirty_bookings() -> None:
    chosen = simulate(["alice", "bob"], 30, weights={"alice": 2, "bob": 1})
    assert Counter(chosen) == {"alice": 20, "bob": 10}


def test_weights_three_two_one_over_thirty_bookings() -> None:
    chosen = simulate(["alice", "bob", "carol"], 30, weights={"alice": 3, "bob": 2, "carol": 1})
    assert Counter(chosen) == {"alice": 15, "bob": 10, "carol": 5}
    # every prefix stays close to the target shares
    for n in range(6, 31, 6):
        c = Counter(chosen[:n])
        assert (c["alice"], c["bob"], c["carol"]) == (n // 2, n // 3, n // 6), n


def test_weighted_choice_prefers_lowest_count_per_weight_then_recency() -> None:
    weights = {"alice": 2, "bob": 1}
    last = {"alice": T0, "bob": utc(2020, 1, 1)}
    # alice 3/2 = 1.5 < bob 2/1: alice, although bob was booked less recently
    assert choose_round_robin_member(["alice", "bob"], last, weights, {"alice": 3, "bob": 2}) == "alice"
    # equal ratios (2/2 == 1/1): least recently booked wins
    assert choose_round_robin_member(["alice", "bob"], last, weights, {"alice": 2, "bob": 1}) == "bob"


def test_all_weights_one_means_plain_least_recently_booked() -> None:
    last = {"alice": utc(2020, 1, 1), "bob": T0}
    weights = {"alice": 1, "bob": 1}
    assert not is_weighted(weights) and is_weighted({"alice": 1, "bob": 3}) and not is_weighted(None)
    assert choose_round_robin_member(["alice", "bob"], last, weights, {"alice": 50, "bob": 0}) == "alice"


def test_refuses_empty_choice_bad_weight_and_naive_times() -> None:
    with pytest.raises(ValueError):
        choose_round_robin_member([], {})
    with pytest.raises(ValueError):
        choose_round_robin_member(["alice", "bob"], {}, {"alice": 0, "bob": 2}, {})
    with pytest.raises(ValueError):
        choose_round_robin_member(["alice"], {"alice": datetime(2025, 1, 1)})
