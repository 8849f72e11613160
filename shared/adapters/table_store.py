"""``EntityStore`` over Azure Table Storage (``azure-data-tables``), library errors translated here."""
from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

from shared.errors import ConcurrencyConflict, NotFound, StorageUnavailable
from shared.ports import Entity, EntityExists, TransactionOp


def _odata_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class TableEntityStore:
    """Azure Table Storage adapter. Tables are created idempotently on first use in this process.

    ``requests`` counts storage requests made and ``entities_read`` the entities returned, so tests and
    benchmarks can show how much storage a path really touches.
    """

    def __init__(self, table_service: Any) -> None:
        self._service = table_service
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.requests = 0
        self.entities_read = 0

    # ------------------------------------------------------------------ helpers
    def _count(self, requests: int = 1, read: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.entities_read += read

    def _table(self, name: str) -> Any:
        client = self._clients.get(name)
        if client is None:
            from azure.core.exceptions import ResourceExistsError

            try:
                self._service.create_table(name)
            except ResourceExistsError:
                pass
            except Exception as exc:  # noqa: BLE001 - translated at the boundary
                raise _translate(exc) from exc
            client = self._service.get_table_client(name)
            with self._lock:
                self._clients[name] = client
        return client

    @staticmethod
    def _out(entity: Any) -> Entity:
        data = dict(entity)
        data["_etag"] = entity.metadata.get("etag")
        return data

    @staticmethod
    def _in(entity: Entity) -> Entity:
        return {k: v for k, v in entity.items() if not k.startswith("_") and v is not None}

    # ------------------------------------------------------------------ port
    def get(self, table: str, partition_key: str, row_key: str) -> Entity | None:
        """Point read; ``None`` when absent."""
        from azure.core.exceptions import ResourceNotFoundError

        client = self._table(table)
        try:
            entity = client.get_entity(partition_key, row_key)
        except ResourceNotFoundError:
            self._count()
            return None
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc) from exc
        self._count(read=1)
        return self._out(entity)

    def insert(self, table: str, entity: Entity) -> str:
        """Create; raises ``EntityExists``."""
        from azure.core.exceptions import ResourceExistsError

        client = self._table(table)
        self._count()
        try:
            meta = client.create_entity(self._in(entity))
        except ResourceExistsError as exc:
            raise EntityExists(table, entity["PartitionKey"], entity["RowKey"]) from exc
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc) from exc
        return str(meta.get("etag"))

    def upsert(self, table: str, entity: Entity) -> str:
        """Create or replace."""
        from azure.data.tables import UpdateMode

        client = self._table(table)
        self._count()
        try:
            meta = client.upsert_entity(self._in(entity), mode=UpdateMode.REPLACE)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc) from exc
        return str(meta.get("etag"))

    def update(self, table: str, entity: Entity, etag: str | None = None, *, merge: bool = False) -> str:
        """Replace/merge an existing entity, conditional on ``etag`` when given."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        client = self._table(table)
        self._count()
        kwargs: dict[str, Any] = {"mode": UpdateMode.MERGE if merge else UpdateMode.REPLACE}
        if etag:
            kwargs.update(etag=etag, match_condition=MatchConditions.IfNotModified)
        else:
            kwargs.update(etag="*", match_condition=MatchConditions.IfNotModified)
        try:
            meta = client.update_entity(self._in(entity), **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc) from exc
        return str(meta.get("etag"))

    def delete(self, table: str, partition_key: str, row_key: str, etag: str | None = None) -> None:
        """Delete; absent is fine."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceNotFoundError

        client = self._table(table)
        self._count()
        kwargs: dict[str, Any] = {}
        if etag:
            kwargs.update(etag=etag, match_condition=MatchConditions.IfNotModified)
        try:
            client.delete_entity(partition_key, row_key, **kwargs)
        except ResourceNotFoundError:
            return
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc) from exc

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
        """Entities of one partition in RowKey order, optionally a RowKey range."""
        client = self._table(table)
        clauses = [f"PartitionKey eq {_odata_str(partition_key)}"]
        if row_key_from is not None:
            clauses.append(f"RowKey ge {_odata_str(row_key_from)}")
        if row_key_to is not None:
            clauses.append(f"RowKey lt {_odata_str(row_key_to)}")
        columns = list(select) if select else None
        if columns:
            columns = list(dict.fromkeys(["PartitionKey", "RowKey", *columns]))
        page_size = min(limit, 1000) if limit else 1000
        try:
            pages = client.query_entities(
                " and ".join(clauses), select=columns, results_per_page=page_size
            ).by_page()
            yielded = 0
            for page in pages:
                items = list(page)
                self._count(read=len(items))
                for item in items:
                    yield self._out(item)
                    yielded += 1
                    if limit is not None and yielded >= limit:
                        return
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc) from exc

    def scan(self, table: str, *, below: tuple[str, str] | None = None,
             select: Iterable[str] | None = None) -> Iterator[Entity]:
        """Entities of every partition, page by page; ``below=(name, value)``: ``name lt 'value'`` (an entity
        without the property does not match, as the Table service evaluates a comparison with a missing one)."""
        if below is not None and not below[0].isidentifier():
            raise ValueError(f"not a property name: {below[0]!r}")
        client = self._table(table)
        columns = list(dict.fromkeys(["PartitionKey", "RowKey", *select])) if select else None
        try:
            if below is None:
                pages = client.list_entities(select=columns, results_per_page=1000).by_page()
            else:
                pages = client.query_entities(f"{below[0]} lt {_odata_str(below[1])}", select=columns,
                                              results_per_page=1000).by_page()
            for page in pages:
                items = list(page)
                self._count(read=len(items))
                yield from (self._out(item) for item in items)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc) from exc

    def transact(self, table: str, operations: list[TransactionOp]) -> list[str | None]:
        """One entity-group transaction, all or nothing; the new ETag of each operation's entity."""
        from azure.core import MatchConditions
        from azure.data.tables import TableTransactionError, UpdateMode

        client = self._table(table)
        batch: list[Any] = []
        for op, entity in operations:
            body = self._in(entity)
            if op == "create":
                batch.append(("create", body))
            elif op == "upsert":
                batch.append(("upsert", body, {"mode": UpdateMode.REPLACE}))
            elif op == "update":
                cond = {"etag": entity.get("_etag") or "*", "match_condition": MatchConditions.IfNotModified}
                batch.append(("update", body, {"mode": UpdateMode.REPLACE, **cond}))
            elif op == "delete":
                cond = {}
                if entity.get("_etag"):
                    cond = {"etag": entity["_etag"], "match_condition": MatchConditions.IfNotModified}
                batch.append(("delete", {"PartitionKey": body["PartitionKey"], "RowKey": body["RowKey"]}, cond))
            else:
                raise ValueError(f"unknown transaction operation {op!r}")
        self._count()
        try:
            results = client.submit_transaction(batch)
        except TableTransactionError as exc:
            code = str(getattr(exc, "error_code", "") or "")
            if code == "EntityAlreadyExists":
                pk = operations[0][1]["PartitionKey"] if operations else ""
                raise EntityExists(table, pk) from exc
            if code in {"UpdateConditionNotSatisfied", "ConditionNotMet"}:
                raise ConcurrencyConflict("a transaction's ETag condition failed") from exc
            if code == "ResourceNotFound":
                raise NotFound("an entity the transaction updates does not exist") from exc
            raise _translate(exc) from exc
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc) from exc
        return [None if op == "delete" else (result or {}).get("etag")
                for (op, _), result in zip(operations, results, strict=True)]


def _translate(exc: Exception) -> Exception:
    """Map an Azure SDK error to ours (unknown 4xx stay as they are: they are bugs)."""
    from azure.core.exceptions import (
        HttpResponseError,
        ResourceModifiedError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(exc, ResourceModifiedError):
        return ConcurrencyConflict("the entity changed since it was read")
    if isinstance(exc, ResourceNotFoundError):
        return NotFound("entity not found")
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return StorageUnavailable(f"table storage unreachable: {type(exc).__name__}")
    if isinstance(exc, HttpResponseError):
        status = getattr(exc, "status_code", None) or 0
        if status == 412:
            return ConcurrencyConflict("the entity changed since it was read")
        if status >= 500 or status in (408, 429):
            return StorageUnavailable(f"table storage answered {status}")
    return exc
