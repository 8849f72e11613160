"""shared.domain.backoff: the one back-off curve both workers and the Graph client use."""
from __future__ import annotations

from shared.domain.backoff import default_backoff
from shared.usecases.communications import comms_backoff


def lowest(a: float, b: float) -> float:
    return a


def highest(a: float, b: float) -> float:
    return b


def test_each_attempt_waits_from_first_times_two_to_the_attempt_to_twice_that() -> None:
    assert [default_backoff(n, uniform=lowest) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert [default_backoff(n, uniform=highest) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]


def test_the_cap_bounds_the_wait_even_with_jitter() -> None:
    assert default_backoff(30, uniform=highest) == 300.0
    assert default_backoff(30, cap=60.0, uniform=highest) == 60.0
    assert all(150.0 <= default_backoff(30) <= 300.0 for _ in range(50))


def test_mail_backs_off_from_thirty_seconds_to_at_most_an_hour() -> None:
    assert all(30.0 <= comms_backoff(1) <= 60.0 for _ in range(50))
    assert all(60.0 <= comms_backoff(2) <= 120.0 for _ in range(50))
    assert all(comms_backoff(20) <= 3600.0 for _ in range(50))
