"""Outlook's per-mailbox limits kept in-process (rule 27).

Page "Microsoft Graph service-specific throttling limits": Outlook allows 4 concurrent requests per app
and mailbox; more are answered 429 (MailboxConcurrency).
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.adapters.mailbox_limiter import FreeBusyCache, MailboxLimiter
from shared.errors import Throttled


def test_at_most_four_requests_per_mailbox_are_in_flight_and_other_mailboxes_are_not_held() -> None:
    limiter = MailboxLimiter()
    inside = threading.Semaphore(0)
    release = threading.Event()

    def request(key: str) -> None:
        with limiter.slot(key):
            inside.release()
            release.wait(5)

    with ThreadPoolExecutor(max_workers=10) as pool:
        futures = [pool.submit(request, "alice") for _ in range(8)]
        for _ in range(4):
            assert inside.acquire(timeout=5)
        assert not inside.acquire(timeout=0.2)  # the fifth waits for a slot
        other = pool.submit(request, "bob")
        assert inside.acquire(timeout=5)  # another mailbox is not held up
        release.set()
        for f in futures + [other]:
            f.result(timeout=5)
    assert limiter.peak == {"alice": 4, "bob": 1}


def test_a_request_that_cannot_get_a_slot_in_time_is_throttled_not_sent() -> None:
    limiter = MailboxLimiter(limit=1, wait_seconds=0.01)
    with limiter.slot("alice"):
        with pytest.raises(Throttled):
            with limiter.slot("alice"):
                pass
    with limiter.slot(None), limiter.slot(None):  # an unbound token is not limited
        pass


def test_tokens_are_bound_to_their_mailbox_key() -> None:
    limiter = MailboxLimiter()
    limiter.bind("tok-1", "oid-a")
    limiter.bind("", "oid-b")
    assert limiter.key_for("tok-1") == "oid-a" and limiter.key_for("tok-2") is None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_free_busy_is_cached_at_most_sixty_seconds() -> None:
    clock = Clock()
    cache = FreeBusyCache(ttl_seconds=600, monotonic=clock)
    calls: list[int] = []
    fetch = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert cache.ttl_seconds == 60
    assert cache.get_or_fetch("a", "w", fetch) == 1
    clock.now = 59.9
    assert cache.get_or_fetch("a", "w", fetch) == 1
    assert cache.get_or_fetch("a", "other window", fetch) == 2
    clock.now = 60.0
    assert cache.get_or_fetch("a", "w", fetch) == 3


def test_a_write_to_the_calendar_drops_its_answers_and_a_fetch_racing_it_is_not_kept() -> None:
    cache = FreeBusyCache(monotonic=Clock())
    values = iter([1, 2, 3, 4])
    assert cache.get_or_fetch("a", "w", lambda: next(values)) == 1
    assert cache.get_or_fetch("b", "w", lambda: next(values)) == 2
    cache.drop("a")
    assert cache.get_or_fetch("a", "w", lambda: next(values)) == 3
    assert cache.get_or_fetch("b", "w", lambda: 99) == 2

    def racing() -> int:
        cache.drop("a")  # bookbridge wrote while this answer was on its way
        return 10

    cache.drop("a")
    assert cache.get_or_fetch("a", "w", racing) == 10
    assert cache.get_or_fetch("a", "w", lambda: 11) == 11


def test_concurrent_visitors_share_one_fetch_and_errors_are_not_kept() -> None:
    cache = FreeBusyCache(monotonic=Clock())
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow() -> str:
        calls.append(1)
        started.set()
        release.wait(5)
        return "answer"

    with ThreadPoolExecutor(max_workers=6) as pool:
        first = pool.submit(cache.get_or_fetch, "a", "w", slow)
        assert started.wait(5)
        others = [pool.submit(cache.get_or_fetch, "a", "w", slow) for _ in range(5)]
        release.set()
        assert first.result(5) == "answer" and [f.result(5) for f in others] == ["answer"] * 5
    assert len(calls) == 1
    assert cache.get_or_fetch("x", "w", lambda: "error", cacheable=lambda v: v != "error") == "error"
    assert cache.get_or_fetch("x", "w", lambda: "fresh") == "fresh"
    with pytest.raises(RuntimeError):
        cache.get_or_fetch("y", "w", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert cache.get_or_fetch("y", "w", lambda: "ok") == "ok"
