"""Calendars by public slug, kept in this process for a few seconds: intake's read of the calendar.

A burst of bookings on one calendar (the case rate limits are for) would read the same slug row for every
booking; with this cache the calendar is read at most once per ``ttl_seconds`` per process, so the
invitee's rate-limit counter takes the place of that read and intake stays at 3 storage requests per
booking with the limits on (bench/README.md, 2).

Freshness: a calendar written or deleted through ``shared.usecases.calendars`` is forgotten at once by
every cache of the process (:func:`calendar_changed`); another instance sees the change within
``ttl_seconds`` (setting ``CALENDAR_CACHE_SECONDS``, default 5; 0 turns the cache off). A read that started
before a change is never kept after it (each slug has a generation that :func:`calendar_changed` moves on).
A slug that does not exist is not cached: a new calendar is bookable at once.
"""
from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from shared.ports import EntityStore
from shared.repositories import calendars as calendar_repo

DEFAULT_TTL_SECONDS = 5.0
DEFAULT_SIZE = 1024

_caches: weakref.WeakSet[CalendarCache] = weakref.WeakSet()
_caches_lock = threading.Lock()


class _Kept(NamedTuple):
    record: calendar_repo.CalendarRecord
    expires: float


class CalendarCache:
    """``by_slug(slug)``: the calendar behind a slug (``None`` when there is none), read at most once per
    ``ttl_seconds``; at most ``size`` calendars are kept (least recently used go first)."""

    def __init__(self, store: EntityStore, ttl_seconds: float = DEFAULT_TTL_SECONDS, size: int = DEFAULT_SIZE,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._store, self._ttl, self._size, self._monotonic = store, ttl_seconds, size, monotonic
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._generations: dict[str, int] = {}
        self._lock = threading.Lock()
        with _caches_lock:
            _caches.add(self)

    def by_slug(self, slug: str) -> calendar_repo.CalendarRecord | None:
        """The cached record while it is fresh, else one point read of the slug row."""
        if self._ttl <= 0:
            return calendar_repo.get_by_slug(self._store, slug)
        now = self._monotonic()
        with self._lock:
            kept = self._kept.get(slug)
            if kept is not None and kept.expires > now:
                self._kept.move_to_end(slug)
                return kept.record
            generation = self._generations.get(slug, 0)
        record = calendar_repo.get_by_slug(self._store, slug)
        with self._lock:
            if record is not None and self._generations.get(slug, 0) == generation:
                self._kept[slug] = _Kept(record, now + self._ttl)
                self._kept.move_to_end(slug)
                while len(self._kept) > self._size:
                    self._kept.popitem(last=False)
        return record

    def forget(self, slug: str) -> None:
        """Drop ``slug`` (and keep a read already under way from storing what it read)."""
        with self._lock:
            self._kept.pop(slug, None)
            self._generations[slug] = self._generations.get(slug, 0) + 1


def calendar_changed(*slugs: str | None) -> None:
    """The calendars behind ``slugs`` were written or deleted: every cache of this process forgets them."""
    with _caches_lock:
        caches = list(_caches)
    for cache in caches:
        for slug in slugs:
            if slug:
                cache.forget(slug)
