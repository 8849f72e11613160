"""What the webhook use cases depend on, their queues and limits."""
from __future__ import annotations

from dataclasses import dataclass

from shared.ports import Cipher, Clock, EntityStore, MessageQueue, WebhookTransport

#: Events to fan out: ``{"id", "type", "workspace", "booking"?: {"host", "id"}, "connection"?: {"user", "kind"}}``.
EVENTS_QUEUE = "webhookevents"
#: One delivery of one event to one webhook: ``{"workspace", "webhook", "instance", "delivery", "attempt"}``.
DELIVERIES_QUEUE = "webhookdeliveries"
#: Attempts ``GET .../webhooks/{id}/deliveries`` shows, newest first.
MAX_LISTED_ATTEMPTS = 50


@dataclass
class WebhookDeps:
    """Storage, the queue, the clock, the cipher of secrets at rest, the HTTP transport of deliveries, and
    whether this is local development (``AZURE_FUNCTIONS_ENVIRONMENT=Development``: http URLs and loopback or
    private addresses allowed)."""

    store: EntityStore
    queue: MessageQueue
    clock: Clock
    cipher: Cipher
    transport: WebhookTransport | None = None
    local_development: bool = False
