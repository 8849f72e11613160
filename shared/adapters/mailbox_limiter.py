"""Outlook's per-mailbox limits, kept by this process (SPEC rule 27).

Microsoft's page "Microsoft Graph service-specific throttling limits" (Outlook service limits): at most
4 concurrent requests per app and mailbox, beyond that 429 ``ApplicationThrottled``
("MailboxConcurrency"). Two parts, shared by availability and the workers through the container:

* :class:`MailboxLimiter`: at most ``limit`` Graph requests in flight per mailbox. The connections use case
  binds every access token it hands out to its account (:meth:`MailboxLimiter.bind`), so
  ``GraphClient.request`` finds the mailbox of a request from its token alone and no caller changes.
  A request that cannot get a slot within ``wait_seconds`` raises ``Throttled`` (a worker re-enqueues it).
* :class:`FreeBusyCache`: free/busy answers per mailbox and window for at most ``ttl_seconds`` (60), with
  one fetch at a time per key (concurrent visitors wait for the same answer instead of asking Graph again),
  dropped for a mailbox whenever bookbridge writes to its calendar (``GraphClient`` calls :meth:`drop`).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from shared.errors import Throttled

OUTLOOK_CONCURRENCY_PER_MAILBOX = 4
FREE_BUSY_TTL_SECONDS = 60.0
MAX_BOUND_TOKENS = 20_000


class MailboxLimiter:
    """At most ``limit`` concurrent Graph requests per mailbox key (the account's object id) in this process."""

    def __init__(self, limit: int = OUTLOOK_CONCURRENCY_PER_MAILBOX, *, wait_seconds: float = 30.0) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._tokens: OrderedDict[str, str] = OrderedDict()
        self._in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    # ------------------------------------------------------------------ which mailbox a token is for
    def bind(self, token: str, key: str) -> None:
        """Remember that ``token`` acts on mailbox ``key`` (kept in memory only, bounded, never logged)."""
        if not token or not key:
            return
        with self._lock:
            self._tokens[token] = key
            self._tokens.move_to_end(token)
            while len(self._tokens) > MAX_BOUND_TOKENS:
                self._tokens.popitem(last=False)

    def key_for(self, token: str) -> str | None:
        """The mailbox key ``token`` was bound to, if any."""
        with self._lock:
            return self._tokens.get(token)

    # ------------------------------------------------------------------ slots
    def _semaphore(self, key: str) -> threading.BoundedSemaphore:
        with self._lock:
            sem = self._slots.get(key)
            if sem is None:
                sem = self._slots[key] = threading.BoundedSemaphore(self.limit)
            return sem

    @contextmanager
    def slot(self, key: str | None) -> Iterator[None]:
        """Hold one of the mailbox's ``limit`` slots for one request (no key: no limit)."""
        if not key:
            yield
            return
        sem = self._semaphore(key)
        if not sem.acquire(timeout=self.wait_seconds):
            raise Throttled("this mailbox already has its maximum of concurrent Graph requests", retry_after=5)
        with self._lock:
            count = self._in_flight[key] = self._in_flight.get(key, 0) + 1
            self.peak[key] = max(self.peak.get(key, 0), count)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[key] -= 1
            sem.release()


@dataclass
class _Entry:
    value: Any = None
    expires: float = 0.0
    ready: threading.Event = field(default_factory=threading.Event)
    generation: int = 0
    failed: bool = False


class FreeBusyCache:
    """Free/busy answers per ``(mailbox key, window)`` for at most ``ttl_seconds``; one fetch per key at a time."""

    def __init__(self, ttl_seconds: float = FREE_BUSY_TTL_SECONDS, *,
                 monotonic: Callable[[], float] = time.monotonic, max_entries: int = 10_000) -> None:
        self.ttl_seconds = min(float(ttl_seconds), FREE_BUSY_TTL_SECONDS)
        self._now = monotonic
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, Any], _Entry] = OrderedDict()
        self._generations: dict[str, int] = {}
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        """Forget every answer (benchmarks start cold)."""
        with self._lock:
            for key in {k[0] for k in self._entries}:
                self._generations[key] = self._generations.get(key, 0) + 1
            self._entries.clear()

    def drop(self, key: str | None) -> None:
        """Forget every answer of mailbox ``key`` (bookbridge wrote to its calendar)."""
        if not key:
            return
        with self._lock:
            self._generations[key] = self._generations.get(key, 0) + 1
            for cache_key in [k for k in self._entries if k[0] == key]:
                self._entries.pop(cache_key, None)

    def get_or_fetch(self, key: str, window: Any, fetch: Callable[[], Any],
                     cacheable: Callable[[Any], bool] = lambda _v: True) -> Any:
        """The cached answer of ``(key, window)``, else ``fetch()`` once (concurrent callers wait for it).

        An answer ``cacheable`` refuses (an error) is handed to the callers waiting for it but not kept.
        A fetch that raises is not kept either; waiting callers then fetch themselves.
        """
        cache_key = (key, window)
        while True:
            with self._lock:
                entry = self._entries.get(cache_key)
                now = self._now()
                if entry is not None and entry.ready.is_set() and (entry.failed or entry.expires <= now):
                    self._entries.pop(cache_key, None)
                    entry = None
                if entry is None:
                    entry = _Entry(generation=self._generations.get(key, 0))
                    self._entries[cache_key] = entry
                    while len(self._entries) > self._max:
                        self._entries.popitem(last=False)
                    owner = True
                    self.misses += 1
                else:
                    owner = False
            if not owner:
                entry.ready.wait(timeout=60)
                if entry.ready.is_set() and not entry.failed:
                    with self._lock:
                        self.hits += 1
                    return entry.value
                continue
            try:
                value = fetch()
            except BaseException:
                with self._lock:
                    entry.failed = True
                    self._entries.pop(cache_key, None)
                entry.ready.set()
                raise
            with self._lock:
                keep = cacheable(value) and self._generations.get(key, 0) == entry.generation
                entry.value = value
                entry.expires = self._now() + self.ttl_seconds
                if not keep:
                    self._entries.pop(cache_key, None)
            entry.ready.set()
            return value
