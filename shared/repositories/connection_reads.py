"""Read-only view of the ``connections`` table (PK ``{ws}|{user}``, RK ``teams`` / ``microsoft_calendar``).

The connections use case owns these rows; booking and availability only read a row's ``status``
(and the account's ``upn`` for free/busy) with one point read.
"""
from __future__ import annotations

from typing import Any

from shared.domain.model import ConnectionStatus
from shared.ports import EntityStore

CONNECTIONS = "connections"


def get_connection_row(store: EntityStore, ws: str, user: str, kind: str) -> dict[str, Any] | None:
    """The connection row of one kind, or ``None``."""
    return store.get(CONNECTIONS, f"{ws}|{user}", kind)


def status_of(row: dict[str, Any] | None) -> ConnectionStatus | None:
    """The row's status as the enum (``None`` when there is no row or the value is unknown)."""
    if not row:
        return None
    try:
        return ConnectionStatus(row.get("status"))
    except ValueError:
        return None
