"""Rows of the ``workspaces`` (PK ``{ws}``, RK ``workspace``) and ``users`` (PK ``{ws}``, RK ``{user}``) tables."""
from __future__ import annotations

from typing import Any

from shared.ports import EntityStore

WORKSPACES = "workspaces"
USERS = "users"
WORKSPACE_ROW = "workspace"


def _public(entity: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: entity.get(k) for k in keys if entity.get(k) is not None}


def workspace_view(entity: dict[str, Any]) -> dict[str, Any]:
    """The API form of a workspace row."""
    return {"workspace": entity["PartitionKey"], **_public(entity, ("name", "created_at", "updated_at"))}


def user_view(entity: dict[str, Any]) -> dict[str, Any]:
    """The API form of a user row."""
    return {
        "workspace": entity["PartitionKey"],
        "user": entity["RowKey"],
        **_public(entity, ("name", "email", "timezone", "created_at", "updated_at")),
    }


def get_workspace(store: EntityStore, ws: str) -> dict[str, Any] | None:
    """The workspace row (point read) or ``None``."""
    return store.get(WORKSPACES, ws, WORKSPACE_ROW)


def put_workspace(store: EntityStore, ws: str, name: str, now: str) -> tuple[dict[str, Any], bool]:
    """Create or replace the workspace; keeps ``created_at``. Returns ``(row, created)``."""
    current = get_workspace(store, ws)
    row = {
        "PartitionKey": ws,
        "RowKey": WORKSPACE_ROW,
        "name": name,
        "created_at": (current or {}).get("created_at") or now,
        "updated_at": now,
    }
    store.upsert(WORKSPACES, row)
    return row, current is None


def get_user(store: EntityStore, ws: str, user: str) -> dict[str, Any] | None:
    """The user row (point read) or ``None``."""
    return store.get(USERS, ws, user)


def put_user(store: EntityStore, ws: str, user: str, name: str, email: str, tz: str,
             now: str) -> tuple[dict[str, Any], bool]:
    """Create or replace a user; keeps ``created_at``. Returns ``(row, created)``."""
    current = get_user(store, ws, user)
    row = {
        "PartitionKey": ws,
        "RowKey": user,
        "name": name,
        "email": email,
        "timezone": tz,
        "created_at": (current or {}).get("created_at") or now,
        "updated_at": now,
    }
    store.upsert(USERS, row)
    return row, current is None
