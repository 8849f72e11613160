"""Webhooks (issue 18): subscriptions per workspace, events emitted as one small queue message each, fanned
out to one delivery per subscribed webhook, each delivered at least once with a Stripe-style signature and
retried with back-off for 24 hours (``docs/webhooks.md``).

Modules, in the order an event goes through them: ``deps`` (queues, limits, ``WebhookDeps``), ``emit`` (what
producers call: never fails them), ``fanout`` (``webhookevents`` -> delivery rows and messages), ``deliver``
(``webhookdeliveries``: one attempt), and ``manage`` (the management API).
"""
from __future__ import annotations

from shared.usecases.webhooks.deliver import DeliveryMessage, handle_delivery_message, handle_delivery_poison
from shared.usecases.webhooks.deps import DELIVERIES_QUEUE, EVENTS_QUEUE, WebhookDeps
from shared.usecases.webhooks.emit import booking_event, connection_event, drain_event_outbox, emit_event, link_event
from shared.usecases.webhooks.fanout import Event, handle_event_message
from shared.usecases.webhooks.manage import delete_webhook, get_webhook, list_deliveries, put_webhook

__all__ = [
    "DELIVERIES_QUEUE", "EVENTS_QUEUE", "DeliveryMessage", "Event", "WebhookDeps", "booking_event",
    "connection_event", "delete_webhook", "drain_event_outbox", "emit_event", "get_webhook", "handle_delivery_message",
    "handle_delivery_poison", "handle_event_message", "link_event", "list_deliveries", "put_webhook",
]
