"""Rows of the webhook tables.

* ``webhooks`` (PK ``{ws}``, RK ``{webhook}``): ``url``, ``events`` (comma-separated), ``secret`` (encrypted
  with the token cipher, never returned), ``instance`` (random, new when the webhook is created again after a
  delete: its deliveries start afresh), ``created_at``, ``updated_at``.
* ``webhookdeliveries`` (PK ``{ws}|{webhook}|{instance}``):
  ``d|{delivery id}``: one delivery of one event (``event_id``, ``event_type``, ``body``: the exact JSON
  sent on every attempt, ``status`` pending|delivered|failed, ``attempts``, ``claimed_attempt``,
  ``first_attempt_at``, ``last_attempt_at``, ``next_attempt_at``, ``last_status_code``, ``last_error``);
  ``a|{13-digit inverted milliseconds}|{delivery id}|{attempt}``: one attempt (newest first in RowKey order).
* ``webhookoutbox`` (PK ``events``, RK the event id): ``message_json``, an event the queue did not take, until
  the outbox timer queues it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.ports import Entity, EntityStore

WEBHOOKS = "webhooks"
DELIVERIES = "webhookdeliveries"
OUTBOX = "webhookoutbox"
OUTBOX_PK = "events"
DELIVERY_PREFIX = "d|"
ATTEMPT_PREFIX = "a|"
_INVERT_MS = 10**13 - 1


@dataclass(frozen=True)
class Webhook:
    """A stored webhook (``secret`` is the ciphertext)."""

    workspace: str
    id: str
    url: str
    events: tuple[str, ...]
    secret: str
    instance: str
    created_at: str
    updated_at: str

    @property
    def deliveries_pk(self) -> str:
        """The partition of its deliveries."""
        return deliveries_pk(self.workspace, self.id, self.instance)

    def view(self) -> dict[str, Any]:
        """The API form: never the secret."""
        return {"workspace": self.workspace, "webhook": self.id, "url": self.url, "events": list(self.events),
                "secret_set": bool(self.secret), "created_at": self.created_at, "updated_at": self.updated_at}


def webhook_from_entity(e: Mapping[str, Any]) -> Webhook:
    """The dataclass of a ``webhooks`` row."""
    return Webhook(workspace=str(e["PartitionKey"]), id=str(e["RowKey"]), url=str(e.get("url") or ""),
                   events=tuple(x for x in str(e.get("events") or "").split(",") if x),
                   secret=str(e.get("secret") or ""), instance=str(e.get("instance") or ""),
                   created_at=str(e.get("created_at") or ""), updated_at=str(e.get("updated_at") or ""))


def webhook_entity(hook: Webhook) -> Entity:
    """The row of ``hook``."""
    return {"PartitionKey": hook.workspace, "RowKey": hook.id, "url": hook.url, "events": ",".join(hook.events),
            "secret": hook.secret, "instance": hook.instance, "created_at": hook.created_at,
            "updated_at": hook.updated_at}


def get_webhook(store: EntityStore, ws: str, webhook: str) -> Webhook | None:
    """Point read."""
    e = store.get(WEBHOOKS, ws, webhook)
    return webhook_from_entity(e) if e else None


def list_webhooks(store: EntityStore, ws: str) -> list[Webhook]:
    """Every webhook of a workspace (one partition)."""
    return [webhook_from_entity(e) for e in store.query(WEBHOOKS, ws)]


def count_webhooks(store: EntityStore, ws: str) -> int:
    """How many webhooks the workspace has."""
    return sum(1 for _ in store.query(WEBHOOKS, ws, select=["RowKey"]))


def deliveries_pk(ws: str, webhook: str, instance: str) -> str:
    """Partition of one webhook's deliveries."""
    return f"{ws}|{webhook}|{instance}"


def delivery_rk(delivery: str) -> str:
    """RowKey of a delivery's state row."""
    return DELIVERY_PREFIX + delivery


def attempt_rk(at: datetime, delivery: str, attempt: int) -> str:
    """RowKey of one attempt: newest first."""
    ms = int(at.astimezone(UTC).timestamp() * 1000)
    return f"{ATTEMPT_PREFIX}{_INVERT_MS - ms:013d}|{delivery}|{attempt:04d}"


def get_delivery(store: EntityStore, hook: Webhook, delivery: str) -> Entity | None:
    """A delivery's state row (with ``_etag``)."""
    return store.get(DELIVERIES, hook.deliveries_pk, delivery_rk(delivery))


def recent_attempts(store: EntityStore, hook: Webhook, limit: int) -> list[Entity]:
    """The newest ``limit`` attempt rows of a webhook."""
    return list(store.query(DELIVERIES, hook.deliveries_pk, row_key_from=ATTEMPT_PREFIX,
                            row_key_to=ATTEMPT_PREFIX[:-1] + "}", limit=limit))


ATTEMPT_FIELDS = ("delivery_id", "event_id", "event_type", "attempt", "at", "outcome", "status_code", "error",
                  "duration_ms", "next_attempt_at")


def attempt_view(e: Mapping[str, Any]) -> dict[str, Any]:
    """The API form of one attempt row."""
    return {k: e.get(k) for k in ATTEMPT_FIELDS}
