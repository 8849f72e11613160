"""Rule 11: which free member a round-robin booking goes to. Pure.

Unweighted (every weight is 1, or no weights given): the free member booked least recently; a
member never booked comes first; ties are broken by user id, so the choice is deterministic.

Weighted (any given weight differs from 1): the free member with the lowest
``booking_count / weight`` (compared exactly, as fractions), then least recently booked, then user
id. Over time each member's share of bookings tends to ``weight / sum(weights)``. Which bookings
count (e.g. the calendar's confirmed bookings) is the caller's choice; missing counts are 0 and
missing weights are 1.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from fractions import Fraction

_NEVER = datetime.min.replace(tzinfo=UTC)


def _recency_key(user: str, last_booked_at: Mapping[str, datetime | None]) -> tuple[datetime, str]:
    """Never booked first, then the oldest last booking, then user id."""
    last = last_booked_at.get(user)
    if last is None:
        return (_NEVER, user)
    if last.tzinfo is None or last.utcoffset() is None:
        raise ValueError("last_booked_at values must be timezone-aware")
    return (last, user)


def is_weighted(weights: Mapping[str, int] | None) -> bool:
    """True when any weight differs from 1."""
    return weights is not None and any(w != 1 for w in weights.values())


def choose_round_robin_member(
    free_members: Sequence[str],
    last_booked_at: Mapping[str, datetime | None],
    weights: Mapping[str, int] | None = None,
    booking_counts: Mapping[str, int] | None = None,
) -> str:
    """The member a round-robin booking goes to, among ``free_members`` (see the module doc)."""
    if not free_members:
        raise ValueError("no free member to choose from")
    if weights is not None and is_weighted(weights):
        given: Mapping[str, int] = weights
        counts = booking_counts or {}

        def key(user: str) -> tuple[Fraction, tuple[datetime, str]]:
            weight = given.get(user, 1)
            if weight < 1:
                raise ValueError(f"weight of {user!r} must be at least 1")
            return (Fraction(counts.get(user, 0), weight), _recency_key(user, last_booked_at))

        return min(free_members, key=key)
    return min(free_members, key=lambda user: _recency_key(user, last_booked_at))
