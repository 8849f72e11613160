"""Fakes of our own ports, with the same semantics as the adapters (held to one contract test)."""
from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import ConcurrencyConflict, NotFound
from shared.ports import Entity, EntityExists, TransactionOp


class InMemoryEntityStore:
    """``EntityStore`` in memory: ETags, conflicts, ordered single-partition queries, transactions."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[tuple[str, str], Entity]] = {}
        self._etags = itertools.count(1)
        self._lock = threading.RLock()
        self.requests = 0
        self.entities_read = 0

    def _t(self, table: str) -> dict[tuple[str, str], Entity]:
        return self._tables.setdefault(table, {})

    def _stamp(self, entity: Entity) -> Entity:
        stored = {k: v for k, v in entity.items() if not k.startswith("_") and v is not None}
        stored["_etag"] = f'W/"{next(self._etags)}"'
        return stored

    def get(self, table: str, partition_key: str, row_key: str) -> Entity | None:
        with self._lock:
            self.requests += 1
            found = self._t(table).get((partition_key, row_key))
            if found is not None:
                self.entities_read += 1
            return copy.deepcopy(found)

    def insert(self, table: str, entity: Entity) -> str:
        with self._lock:
            self.requests += 1
            key = (entity["PartitionKey"], entity["RowKey"])
            if key in self._t(table):
                raise EntityExists(table, *key)
            stored = self._stamp(entity)
            self._t(table)[key] = stored
            return stored["_etag"]

    def upsert(self, table: str, entity: Entity) -> str:
        with self._lock:
            self.requests += 1
            stored = self._stamp(entity)
            self._t(table)[(entity["PartitionKey"], entity["RowKey"])] = stored
            return stored["_etag"]

    def update(self, table: str, entity: Entity, etag: str | None = None, *, merge: bool = False) -> str:
        with self._lock:
            self.requests += 1
            return self._update(table, entity, etag, merge)

    def _update(self, table: str, entity: Entity, etag: str | None, merge: bool) -> str:
        key = (entity["PartitionKey"], entity["RowKey"])
        current = self._t(table).get(key)
        if current is None:
            raise NotFound("entity not found")
        if etag and etag != "*" and current["_etag"] != etag:
            raise ConcurrencyConflict("the entity changed since it was read")
        base = {k: v for k, v in current.items() if not k.startswith("_")} if merge else {}
        base.update({k: v for k, v in entity.items() if not k.startswith("_")})
        stored = self._stamp(base)
        self._t(table)[key] = stored
        return stored["_etag"]

    def delete(self, table: str, partition_key: str, row_key: str, etag: str | None = None) -> None:
        with self._lock:
            self.requests += 1
            current = self._t(table).get((partition_key, row_key))
            if current is None:
                return
            if etag and current["_etag"] != etag:
                raise ConcurrencyConflict("the entity changed since it was read")
            del self._t(table)[(partition_key, row_key)]

    def query(
        self,
        table: str,
        partition_key: str,
        *,
        row_key_from: str | None = None,
        row_key_to: str | None = None,
        select: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> Iterator[Entity]:
        with self._lock:
            self.requests += 1
            rows = sorted(
                (rk, e) for (pk, rk), e in self._t(table).items()
                if pk == partition_key
                and (row_key_from is None or rk >= row_key_from)
                and (row_key_to is None or rk < row_key_to)
            )
            out = [copy.deepcopy(e) for _, e in rows][: limit if limit else None]
            if select:
                keep = {"PartitionKey", "RowKey", "_etag", *select}
                out = [{k: v for k, v in e.items() if k in keep} for e in out]
            self.entities_read += len(out)
        return iter(out)

    def scan(self, table: str, *, below: tuple[str, str] | None = None,
             select: Iterable[str] | None = None) -> Iterator[Entity]:
        if below is not None and not below[0].isidentifier():
            raise ValueError(f"not a property name: {below[0]!r}")
        with self._lock:
            self.requests += 1
            out = [copy.deepcopy(e) for _, e in sorted(self._t(table).items())
                   if below is None or (isinstance(e.get(below[0]), str) and e[below[0]] < below[1])]
            if select:
                keep = {"PartitionKey", "RowKey", "_etag", *select}
                out = [{k: v for k, v in e.items() if k in keep} for e in out]
            self.entities_read += len(out)
        return iter(out)

    def transact(self, table: str, operations: list[TransactionOp]) -> list[str | None]:
        with self._lock:
            self.requests += 1
            if len({e["PartitionKey"] for _, e in operations}) > 1 or len(operations) > 100:
                raise ValueError("a transaction spans one partition and at most 100 operations")
            snapshot = copy.deepcopy(self._t(table))
            etags: list[str | None] = []
            try:
                for op, entity in operations:
                    key = (entity["PartitionKey"], entity["RowKey"])
                    if op == "create":
                        if key in self._t(table):
                            raise EntityExists(table, *key)
                        self._t(table)[key] = self._stamp(entity)
                        etags.append(self._t(table)[key]["_etag"])
                    elif op == "upsert":
                        self._t(table)[key] = self._stamp(entity)
                        etags.append(self._t(table)[key]["_etag"])
                    elif op == "update":
                        etags.append(self._update(table, entity, entity.get("_etag"), False))
                    elif op == "delete":
                        current = self._t(table).get(key)
                        if current is None:
                            raise NotFound("an entity the transaction deletes does not exist")
                        if entity.get("_etag") and current["_etag"] != entity["_etag"]:
                            raise ConcurrencyConflict("a transaction's ETag condition failed")
                        del self._t(table)[key]
                        etags.append(None)
            except Exception:
                self._tables[table] = snapshot
                raise
            return etags

    def all(self, table: str) -> list[Entity]:
        """Every entity of a table (tests only)."""
        with self._lock:
            return [copy.deepcopy(e) for e in self._t(table).values()]


@dataclass
class SentMessage:
    """A message a fake queue received."""

    queue: str
    message: dict[str, Any]
    visibility_timeout: int


@dataclass
class InMemoryMessageQueue:
    """``MessageQueue`` that records what was sent."""

    sent: list[SentMessage] = field(default_factory=list)

    def send(self, queue: str, message: dict[str, Any], *, visibility_timeout: int = 0) -> None:
        self.sent.append(SentMessage(queue, copy.deepcopy(message), visibility_timeout))

    def on(self, queue: str) -> list[dict[str, Any]]:
        """Messages sent to one queue, in order."""
        return [m.message for m in self.sent if m.queue == queue]


@dataclass
class FixedClock:
    """A clock tests move by hand."""

    current: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 8, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        """Move forward by ``timedelta(**kwargs)``."""
        self.current += timedelta(**kwargs)
