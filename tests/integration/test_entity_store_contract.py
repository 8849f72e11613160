"""One contract for the EntityStore port, held against the Azure adapter (on Azurite) and the fake."""
from __future__ import annotations

import uuid

import pytest

from shared.errors import ConcurrencyConflict
from shared.ports import EntityExists
from tests.fakes import InMemoryEntityStore


@pytest.fixture(params=["azurite", "fake"])
def store(request):
    if request.param == "fake":
        return InMemoryEntityStore()
    conn = request.getfixturevalue("storage_connection_string")
    from azure.data.tables import TableServiceClient

    from shared.adapters.table_store import TableEntityStore

    return TableEntityStore(TableServiceClient.from_connection_string(conn))


@pytest.fixture
def pk() -> str:
    return f"p{uuid.uuid4().hex}"


TABLE = "contract"


def test_insert_get_and_duplicate_insert(store, pk):
    store.insert(TABLE, {"PartitionKey": pk, "RowKey": "a", "n": 1, "s": "x"})
    got = store.get(TABLE, pk, "a")
    assert got["n"] == 1 and got["s"] == "x" and got["_etag"]
    with pytest.raises(EntityExists):
        store.insert(TABLE, {"PartitionKey": pk, "RowKey": "a", "n": 2})
    assert store.get(TABLE, pk, "a")["n"] == 1
    assert store.get(TABLE, pk, "missing") is None


def test_update_is_etag_conditional(store, pk):
    store.insert(TABLE, {"PartitionKey": pk, "RowKey": "a", "n": 1})
    first = store.get(TABLE, pk, "a")
    store.update(TABLE, {**first, "n": 2}, first["_etag"])
    with pytest.raises(ConcurrencyConflict):
        store.update(TABLE, {**first, "n": 3}, first["_etag"])
    assert store.get(TABLE, pk, "a")["n"] == 2
    current = store.get(TABLE, pk, "a")
    store.update(TABLE, {"PartitionKey": pk, "RowKey": "a", "m": 5}, current["_etag"], merge=True)
    merged = store.get(TABLE, pk, "a")
    assert merged["n"] == 2 and merged["m"] == 5


def test_delete_absent_is_fine_and_conditional(store, pk):
    store.delete(TABLE, pk, "nothing")
    store.insert(TABLE, {"PartitionKey": pk, "RowKey": "a", "n": 1})
    old = store.get(TABLE, pk, "a")
    store.upsert(TABLE, {"PartitionKey": pk, "RowKey": "a", "n": 9})
    with pytest.raises(ConcurrencyConflict):
        store.delete(TABLE, pk, "a", old["_etag"])
    store.delete(TABLE, pk, "a")
    assert store.get(TABLE, pk, "a") is None


def test_query_one_partition_in_row_key_order_with_range(store, pk):
    for rk in ["c", "a", "b", "d"]:
        store.insert(TABLE, {"PartitionKey": pk, "RowKey": rk, "v": rk})
    store.insert(TABLE, {"PartitionKey": pk + "x", "RowKey": "a", "v": "other"})
    assert [e["RowKey"] for e in store.query(TABLE, pk)] == ["a", "b", "c", "d"]
    assert [e["RowKey"] for e in store.query(TABLE, pk, row_key_from="b", row_key_to="d")] == ["b", "c"]
    assert [e["RowKey"] for e in store.query(TABLE, pk, limit=2)] == ["a", "b"]
    only = next(store.query(TABLE, pk, select=["v"]))
    assert only["v"] == "a"


def test_transaction_is_all_or_nothing(store, pk):
    store.insert(TABLE, {"PartitionKey": pk, "RowKey": "lock|2", "b": "first"})
    with pytest.raises(EntityExists):
        store.transact(TABLE, [
            ("create", {"PartitionKey": pk, "RowKey": "booking|x", "b": "second"}),
            ("create", {"PartitionKey": pk, "RowKey": "lock|1", "b": "second"}),
            ("create", {"PartitionKey": pk, "RowKey": "lock|2", "b": "second"}),
        ])
    assert [e["RowKey"] for e in store.query(TABLE, pk)] == ["lock|2"]
    store.transact(TABLE, [
        ("create", {"PartitionKey": pk, "RowKey": "booking|y", "b": "third"}),
        ("create", {"PartitionKey": pk, "RowKey": "lock|3", "b": "third"}),
        ("delete", {"PartitionKey": pk, "RowKey": "lock|2"}),
    ])
    assert [e["RowKey"] for e in store.query(TABLE, pk)] == ["booking|y", "lock|3"]


def test_transaction_update_with_stale_etag_fails(store, pk):
    store.insert(TABLE, {"PartitionKey": pk, "RowKey": "a", "n": 1})
    stale = store.get(TABLE, pk, "a")
    store.upsert(TABLE, {"PartitionKey": pk, "RowKey": "a", "n": 2})
    with pytest.raises(ConcurrencyConflict):
        store.transact(TABLE, [("update", {**stale, "n": 3}), ("create", {"PartitionKey": pk, "RowKey": "b"})])
    assert store.get(TABLE, pk, "b") is None


def test_scan_reads_every_partition_and_filters_below_a_string_value(store):
    """``$filter`` with ``lt`` on a string property, across partitions and pages (Microsoft's page "Querying
    tables and entities"); an entity without the property is not returned, as Azurite shows here."""
    table = f"scan{uuid.uuid4().hex[:16]}"
    store.insert(table, {"PartitionKey": "p1", "RowKey": "a", "at": "2026-01-01T00:00:00Z", "n": 1})
    store.insert(table, {"PartitionKey": "p2", "RowKey": "b", "at": "2026-03-01T00:00:00Z", "n": 2})
    store.insert(table, {"PartitionKey": "p3", "RowKey": "c", "n": 3})  # no "at": never "below" anything
    assert sorted((e["PartitionKey"], e["RowKey"]) for e in store.scan(table)) == [
        ("p1", "a"), ("p2", "b"), ("p3", "c")]
    old = list(store.scan(table, below=("at", "2026-02-01T00:00:00Z"), select=["at"]))
    assert [(e["PartitionKey"], e["RowKey"], e["at"]) for e in old] == [("p1", "a", "2026-01-01T00:00:00Z")]
    assert "n" not in old[0] and old[0]["_etag"]
    store.delete(table, "p1", "a", old[0]["_etag"])
    assert list(store.scan(table, below=("at", "2026-02-01T00:00:00Z"))) == []
    with pytest.raises(ValueError):
        list(store.scan(table, below=("at or true", "x")))
