"""The pure rules of what housekeeping may delete."""
from __future__ import annotations

from datetime import UTC, datetime

from shared.domain.retention import delivery_row_expired, rate_limit_window_over

NOW = datetime(2026, 11, 23, 8, 0, 30, tzinfo=UTC)
WINDOW_OF_NOW_PER_MINUTE = int(NOW.timestamp() // 60)


def test_a_counter_is_over_only_once_its_window_has_ended() -> None:
    pk = "RATE_LIMIT_SLOTS_PER_CLIENT|60|" + "a" * 32
    assert rate_limit_window_over(pk, WINDOW_OF_NOW_PER_MINUTE - 1, NOW)
    assert not rate_limit_window_over(pk, WINDOW_OF_NOW_PER_MINUTE, NOW)
    assert not rate_limit_window_over(pk, str(WINDOW_OF_NOW_PER_MINUTE), NOW)


def test_a_row_it_cannot_read_is_never_judged_over() -> None:
    for pk, window in [("no-period", 1), ("X|0|k", 1), ("X|-5|k", 1), ("X|sixty|k", 1), ("X|60|k", None),
                       ("X|60|k", "w")]:
        assert not rate_limit_window_over(pk, window, NOW), (pk, window)


def test_deliveries_go_only_when_settled_and_old_and_attempts_when_old() -> None:
    cutoff = "2026-10-24T08:00:00Z"
    old, recent = "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"
    prefixes = {"attempt_prefix": "a|", "delivery_prefix": "d|"}
    assert delivery_row_expired({"RowKey": "a|1|x|0001", "at": old}, cutoff, **prefixes)
    assert not delivery_row_expired({"RowKey": "a|1|x|0001", "at": recent}, cutoff, **prefixes)
    assert not delivery_row_expired({"RowKey": "a|1|x|0001"}, cutoff, **prefixes)
    for status in ("delivered", "failed"):
        assert delivery_row_expired({"RowKey": "d|x", "status": status, "last_attempt_at": old}, cutoff, **prefixes)
    assert not delivery_row_expired({"RowKey": "d|x", "status": "pending", "last_attempt_at": old}, cutoff,
                                    **prefixes)
    assert not delivery_row_expired({"RowKey": "d|x", "status": "delivered", "last_attempt_at": recent}, cutoff,
                                    **prefixes)
    assert not delivery_row_expired({"RowKey": "other", "at": old}, cutoff, **prefixes)
