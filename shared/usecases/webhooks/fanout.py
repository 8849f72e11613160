"""The fan-out: one ``webhookevents`` message becomes one delivery per subscribed webhook.

Each delivery is a ``webhookdeliveries`` state row (its id is derived from the event id and the webhook, and
its body is fixed here, so every attempt sends the same bytes) and a ``webhookdeliveries`` queue message. A
redelivered event finds the rows already there and puts a message again only for a delivery never attempted.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain import webhooks as rules
from shared.domain.connections import CONNECTIONS_TABLE, connection_pk, connection_view
from shared.domain.model import ConnectionKind
from shared.errors import EntityExists
from shared.ports import iso_utc
from shared.repositories import bookings as bookings_repo
from shared.repositories import webhooks as repo
from shared.usecases.booking_admin import admin_view
from shared.usecases.webhooks.deliver import DeliveryMessage
from shared.usecases.webhooks.deps import DELIVERIES_QUEUE, WebhookDeps

log = logging.getLogger("bookbridge.webhooks")


@dataclass(frozen=True)
class Event:
    """One ``webhookevents`` message: the event id and type, and the ids of what it is about."""

    id: str
    type: str
    workspace: str
    booking: tuple[str, str] | None = None  # (host, booking id)
    connection: tuple[str, str] | None = None  # (user, kind)

    @staticmethod
    def parse(data: Any) -> Event:
        """``ValueError`` naming what is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError("message is not a JSON object")
        ident, kind, ws = data.get("id"), data.get("type"), data.get("workspace")
        if not isinstance(ident, str) or not ident.startswith("evt_"):
            raise ValueError("id must be an event id")
        if kind not in rules.EVENT_TYPES:
            raise ValueError("type must be an event type")
        if not isinstance(ws, str) or not ws or "|" in ws:
            raise ValueError("workspace must be a non-empty string without '|'")
        about = "connection" if str(kind).startswith("connection.") else "booking"
        names = ("user", "kind") if about == "connection" else ("host", "id")
        subject = data.get(about)
        values = tuple(subject.get(n) for n in names) if isinstance(subject, Mapping) else ()
        if len(values) != 2 or not all(isinstance(v, str) and v and "|" not in v for v in values):
            raise ValueError(f"{about} must name {' and '.join(names)}")
        pair = (str(values[0]), str(values[1]))
        return Event(ident, str(kind), ws, **{about: pair})


def event_data(deps: WebhookDeps, event: Event) -> dict[str, Any]:
    """``data`` of the payload: the booking as the admin API shows it, or the connection slot's view."""
    if event.booking is not None:
        host, booking_id = event.booking
        row = deps.store.get(bookings_repo.SCHEDULE, bookings_repo.schedule_pk(event.workspace, host),
                             bookings_repo.booking_rk(booking_id))
        return {"booking": admin_view(row) if row else {"id": booking_id, "workspace": event.workspace,
                                                          "host": host}}
    assert event.connection is not None
    user, kind = event.connection
    row = deps.store.get(CONNECTIONS_TABLE, connection_pk(event.workspace, user), kind)
    try:
        view = connection_view(ConnectionKind(kind), row)
    except ValueError:
        view = {"kind": kind}
    return {"connection": {"workspace": event.workspace, "user": user, **view}}


def payload(deps: WebhookDeps, event: Event) -> str:
    """The JSON body every webhook of the event receives."""
    body = {"id": event.id, "type": event.type, "created": int(deps.clock.now().timestamp()),
            "workspace": event.workspace, "data": event_data(deps, event)}
    return json.dumps(body, separators=(",", ":"), sort_keys=True, default=str)


def start_delivery(deps: WebhookDeps, hook: repo.Webhook, event: Event, body: str) -> bool:
    """Record the delivery (once) and put its first message; False when it was already under way."""
    delivery = rules.delivery_id(event.id, f"{hook.id}|{hook.instance}")
    row = {"PartitionKey": hook.deliveries_pk, "RowKey": repo.delivery_rk(delivery), "event_id": event.id,
           "event_type": event.type, "body": body, "status": "pending", "attempts": 0,
           "created_at": iso_utc(deps.clock.now())}
    try:
        deps.store.insert(repo.DELIVERIES, row)
    except EntityExists:
        existing = repo.get_delivery(deps.store, hook, delivery)
        if existing is None or existing.get("status") != "pending" or int(existing.get("attempts") or 0) > 0:
            return False
    message = DeliveryMessage(event.workspace, hook.id, hook.instance, delivery, 1)
    deps.queue.send(DELIVERIES_QUEUE, message.to_dict())
    return True


def handle_event_message(deps: WebhookDeps, data: Any) -> str:
    """Fan one event out to the workspace's webhooks subscribed to its type; what happened, for logs."""
    try:
        event = Event.parse(data)
    except ValueError as exc:
        log.error("webhookevents: invalid message dropped: %s", exc)
        return "invalid"
    hooks = [h for h in repo.list_webhooks(deps.store, event.workspace) if event.type in h.events]
    if not hooks:
        return "no subscribers"
    body = payload(deps, event)
    started = sum(start_delivery(deps, hook, event, body) for hook in hooks)
    log.info("webhooks: %s %s to %d webhook(s) ws=%s", event.type, event.id, started, event.workspace)
    return f"fanned out to {started}"
