"""A user's connections: read, list, disconnect, and the ``teams_unavailable`` mark."""
from __future__ import annotations

import logging
from typing import Any

from shared.domain import connections as rules
from shared.domain.model import ConnectionKind, ConnectionStatus
from shared.errors import (
    ConcurrencyConflict,
    NotFound,
)
from shared.ports import Clock, EntityStore, SystemClock, iso_utc
from shared.repositories.optimistic import optimistic_update
from shared.usecases.connections.deps import Deps, check_ids, kind_of, require_user, store_of
from shared.usecases.connections.tokens import evict_token
from shared.usecases.webhooks import emit as webhook_events

log = logging.getLogger("bookbridge.connections")


def get_connection(store_or_deps: EntityStore | Deps, workspace: str, user: str, kind: Any) -> dict[str, Any] | None:
    """The ``connections`` entity of one slot (with ``_etag``), or ``None`` when never connected."""
    k = rules.parse_kind(kind)
    if k is None:
        return None
    return store_of(store_or_deps).get(rules.CONNECTIONS_TABLE, rules.connection_pk(workspace, user), k.value)


def list_connections(deps: Deps, workspace: str, user: str) -> dict[str, Any]:
    """Every kind's slot of a user: status, account, scopes, times, last error (one partition query)."""
    check_ids(workspace, user)
    require_user(deps.store, workspace, user)
    rows = {e["RowKey"]: e for e in deps.store.query(rules.CONNECTIONS_TABLE, rules.connection_pk(workspace, user))}
    return {"workspace": workspace, "user": user,
            "connections": [rules.connection_view(k, rows.get(k.value)) for k in ConnectionKind]}


def disconnect(deps: Deps, workspace: str, user: str, kind: Any) -> dict[str, Any]:
    """Remove a connection: status ``disconnected`` with the time, tokens deleted. Idempotent."""
    check_ids(workspace, user)
    k = kind_of(kind)
    store: EntityStore = deps.store
    pk = rules.connection_pk(workspace, user)

    def read() -> dict[str, Any]:
        previous = store.get(rules.CONNECTIONS_TABLE, pk, k.value)
        if previous is None:
            raise NotFound("no connection of this kind")
        return previous

    def write(previous: dict[str, Any]) -> dict[str, Any]:
        if previous.get("status") == ConnectionStatus.DISCONNECTED.value:
            return previous
        entity = rules.disconnect(previous, now=iso_utc(deps.clock.now()))
        store.update(rules.CONNECTIONS_TABLE, entity, previous.get("_etag"))
        webhook_events.connection_event(deps.queue, "connection.disconnected", entity, store=deps.store)
        log.info("disconnected ws=%s user=%s kind=%s", workspace, user, k.value)
        return entity

    entity = optimistic_update(read, write, what="the connection", races=(ConcurrencyConflict, NotFound))
    # Status first (stops new use at once, on every instance: get_access_token reads it on each call), then
    # the tokens: a failure here leaves unused ciphertext that the next disconnect or connect removes.
    evict_token(deps, workspace, user, k)
    store.delete(rules.TOKEN_CACHES_TABLE, pk, k.value)
    return rules.connection_view(k, entity)


def mark_teams_unavailable(store_or_deps: EntityStore | Deps, workspace: str, user: str, reason: str, *,
                           clock: Clock | None = None) -> None:
    """Record on the ``teams`` slot that its account cannot create Teams meetings (rule 5)."""
    store = store_of(store_or_deps)
    clock = clock or getattr(store_or_deps, "clock", None) or SystemClock()
    pk = rules.connection_pk(workspace, user)

    def write(current: dict[str, Any] | None) -> None:
        if current is None:
            return
        now = iso_utc(clock.now())
        update = {"PartitionKey": pk, "RowKey": ConnectionKind.TEAMS.value, "teams_unavailable": True,
                  "teams_unavailable_at": now, "last_error": (reason or "teams_unavailable")[:1000], "updated_at": now}
        store.update(rules.CONNECTIONS_TABLE, update, current.get("_etag"), merge=True)
        log.info("teams unavailable recorded ws=%s user=%s", workspace, user)

    optimistic_update(lambda: store.get(rules.CONNECTIONS_TABLE, pk, ConnectionKind.TEAMS.value), write,
                      what="the connection", races=(ConcurrencyConflict, NotFound))
