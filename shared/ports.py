"""The ports use cases depend on. Adapters implement them; tests use fakes of them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Literal, Protocol

Entity = dict[str, Any]
"""A table entity: ``PartitionKey``, ``RowKey`` and scalar values; ``_etag`` when read from a store."""

TransactionOp = tuple[Literal["create", "upsert", "update", "delete"], Entity]
"""One operation of an entity-group transaction; ``update``/``delete`` honour the entity's ``_etag``."""


class EntityExists(Exception):
    """An insert found the entity already there (also raised by a transaction that hits one)."""

    def __init__(self, table: str, partition_key: str, row_key: str | None = None) -> None:
        super().__init__(f"entity exists in {table}")
        self.table = table
        self.partition_key = partition_key
        self.row_key = row_key


class EntityStore(Protocol):
    """Table storage as the use cases need it. Every call is one storage request."""

    def get(self, table: str, partition_key: str, row_key: str) -> Entity | None:
        """Point read; ``None`` when absent."""

    def insert(self, table: str, entity: Entity) -> str:
        """Create; raises :class:`EntityExists`. Returns the new ETag."""

    def upsert(self, table: str, entity: Entity) -> str:
        """Create or replace. Returns the new ETag."""

    def update(self, table: str, entity: Entity, etag: str | None = None, *, merge: bool = False) -> str:
        """Replace (or merge) an existing entity, only if its ETag is still ``etag`` when given.

        Raises ``shared.errors.ConcurrencyConflict`` on an ETag mismatch and ``NotFound`` when absent.
        """

    def delete(self, table: str, partition_key: str, row_key: str, etag: str | None = None) -> None:
        """Delete; absent is fine. With ``etag``: raises ``ConcurrencyConflict`` on a mismatch."""

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
        """Entities of ONE partition with ``row_key_from <= RowKey < row_key_to``, in RowKey order."""

    def transact(self, table: str, operations: list[TransactionOp]) -> None:
        """An entity-group transaction (same table, same partition, at most 100 operations).

        All or nothing: raises :class:`EntityExists` when a create hits an existing entity and
        ``ConcurrencyConflict`` when an ETag condition fails.
        """


class MessageQueue(Protocol):
    """Storage queues as the use cases need them (JSON messages, base64 on the wire)."""

    def send(self, queue: str, message: dict[str, Any], *, visibility_timeout: int = 0) -> None:
        """Put a message, invisible for ``visibility_timeout`` seconds."""


class Clock(Protocol):
    """The current time (tests pass a fixed or moving one)."""

    def now(self) -> datetime:
        """An aware UTC datetime."""


@dataclass
class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Now, in UTC."""
        return datetime.now(timezone.utc)


def iso_utc(value: datetime) -> str:
    """``2026-11-22T09:30:00Z``: the one string form of instants in storage and messages."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso_utc(value: str) -> datetime:
    """Inverse of :func:`iso_utc` (accepts any ISO-8601 with offset or ``Z``)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"instant without offset: {value!r}")
    return parsed.astimezone(timezone.utc)
