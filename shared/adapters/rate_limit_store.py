"""Rate-limit counters in Table Storage that hold across instances (table ``ratelimits``).

One row per limit and key: ``PartitionKey = {limit}|{period}|{sha256(key)[:32]}`` (no address is stored),
``RowKey = "w"``, ``window`` (the fixed window's index) and ``count``. A hit is ONE conditional write:
an insert for a new key, else an update guarded by the ETag this process last saw (kept in a small
in-process cache), so a single instance never reads before writing; when another instance wrote in
between, the ETag no longer matches, the row is read again and the hit retried. A count can only grow
within a window, so a cached count at the limit is refused without any storage request.

:meth:`TableRateLimiter.pending` is the same counter kept in ANOTHER table's partition, so that its
write goes into the caller's entity-group transaction (intake puts a calendar's counter in the host's
``schedule`` partition, beside the booking and its locks: counting costs no request of its own, and a
booking that is not stored is not counted). The row is read (and created at 0) only when this process
has not seen it yet; the transaction's ``update`` carries the ETag last seen, so another instance's
count in between fails the transaction (nothing stored). The caller then counts ``alone()``: the same
row, by its own conditional writes (read again and retried, as :meth:`TableRateLimiter.hit`), and commits
the booking without it: under contention (a burst on one calendar) a booking costs one failed transaction
and a counter request, never a loop of whole transactions.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from typing import NamedTuple

from shared.domain.rate_limits import COUNTERS_TABLE, Limit
from shared.errors import ConcurrencyConflict, NotFound, RateLimited
from shared.ports import Clock, EntityExists, EntityStore, PendingCount

log = logging.getLogger("bookbridge.ratelimits")

TABLE = COUNTERS_TABLE
ROW = "w"
ATTEMPTS = 40
CACHE_SIZE = 4096


class _Seen(NamedTuple):
    window: int
    hits: int
    etag: str | None


def _refused(limit: Limit, retry_after: int) -> RateLimited:
    log.info("rate limit %s reached", limit.name)
    return RateLimited(f"Too many requests: at most {limit.describe()} ({limit.name}). "
                       f"Try again in {retry_after} seconds.", limit=limit.name, retry_after=retry_after)


class TableRateLimiter:
    """``hit(limit, key)`` counts one request, or raises ``RateLimited`` (nothing written) when over."""

    def __init__(self, store: EntityStore, clock: Clock) -> None:
        self._store, self._clock = store, clock
        self._seen: OrderedDict[str, _Seen] = OrderedDict()
        self._lock = threading.Lock()

    def _cached(self, pk: str) -> _Seen | None:
        with self._lock:
            return self._seen.get(pk)

    def _remember(self, pk: str, seen: _Seen | None) -> None:
        with self._lock:
            if seen is None:
                self._seen.pop(pk, None)
                return
            self._seen[pk] = seen
            self._seen.move_to_end(pk)
            while len(self._seen) > CACHE_SIZE:
                self._seen.popitem(last=False)

    def _read(self, table: str, pk: str, rk: str) -> _Seen | None:
        row = self._store.get(table, pk, rk)
        if row is None:
            return None
        return _Seen(int(row.get("window") or 0), int(row.get("count") or 0), row.get("_etag"))

    def hit(self, limit: Limit | None, key: str | None) -> None:
        """Count one request of ``key`` against ``limit`` (nothing when either is ``None``)."""
        if limit is None or not key:
            return
        pk = f"{limit.name}|{limit.period_seconds}|{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}"
        self._hit(limit, TABLE, pk, ROW, pk)

    def _hit(self, limit: Limit, table: str, pk: str, rk: str, cache_key: str) -> None:
        window, retry_after = limit.window(self._clock.now())
        seen = self._cached(cache_key)
        for _ in range(ATTEMPTS):
            count = seen.hits if seen is not None and seen.window == window else 0
            if count >= limit.count:
                raise _refused(limit, retry_after)
            entity = {"PartitionKey": pk, "RowKey": rk, "window": window, "count": count + 1}
            try:
                if seen is None:
                    etag = self._store.insert(table, entity)
                else:
                    etag = self._store.update(table, entity, seen.etag)
            except (EntityExists, ConcurrencyConflict, NotFound):
                seen = self._read(table, pk, rk)
                continue
            self._remember(cache_key, _Seen(window, count + 1, etag))
            return
        self._remember(cache_key, None)
        raise ConcurrencyConflict(f"the {limit.name} counter kept changing; retry")

    def _seen_row(self, table: str, pk: str, rk: str, window: int) -> _Seen:
        """The counter row as stored (created with count 0 when absent)."""
        for _ in range(ATTEMPTS):
            row = self._store.get(table, pk, rk)
            if row is not None:
                return _Seen(int(row.get("window") or 0), int(row.get("count") or 0), row.get("_etag"))
            try:
                etag = self._store.insert(table, {"PartitionKey": pk, "RowKey": rk, "window": window, "count": 0})
            except EntityExists:
                continue
            return _Seen(window, 0, etag)
        raise ConcurrencyConflict(f"the counter {rk} kept changing; retry")

    def pending(self, limit: Limit | None, table: str, pk: str, rk: str) -> PendingCount | None:
        """One hit of the counter row ``(table, pk, rk)`` to write inside the caller's transaction (see the
        module doc); ``None`` without a limit. Raises ``RateLimited`` (nothing written) when over."""
        if limit is None:
            return None
        cache_key = f"{table}|{pk}|{rk}"
        window, retry_after = limit.window(self._clock.now())
        seen = self._cached(cache_key) or self._seen_row(table, pk, rk, window)
        self._remember(cache_key, seen)
        count = seen.hits if seen.window == window else 0
        if count >= limit.count:
            raise _refused(limit, retry_after)
        entity = {"PartitionKey": pk, "RowKey": rk, "window": window, "count": count + 1, "_etag": seen.etag}

        def committed(etag: str | None) -> None:
            self._remember(cache_key, _Seen(window, count + 1, etag) if etag else None)

        def alone() -> None:  # under contention: the same row, counted by its own conditional writes
            self._remember(cache_key, None)
            self._hit(limit, table, pk, rk, cache_key)

        return PendingCount(("update", entity), committed, alone)
