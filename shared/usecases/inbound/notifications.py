"""What Graph POSTs to ``/api/notifications/microsoft`` (and ``/lifecycle``): hints, only enqueued.

"Receive change notifications through webhooks": the validation request (``?validationToken=``) is answered
with the token as ``text/plain`` (:func:`validation_answer`); a notification is answered ``202`` within 3 s,
so this does one point read per subscription (its ``clientState``, decrypted) and puts one ``inbound``
message per valid notification. A notification whose ``clientState`` does not match its subscription's, or
whose subscription we do not know, is dropped and logged (ids only). The worker re-reads the event.

A ``created`` hint is acknowledged and not enqueued: a booking's event is only ever created by bookbridge
itself (rule 19 concerns what the host deletes, declines or moves: ``updated`` / ``deleted``), and re-reading
each one would double the Graph calls of every booking (``make bench``:
``graph_calls_per_meeting_same_account`` 1.91 with them, 1.00 without).
"""
from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import UndecryptableSecret
from shared.ports import Cipher, EntityStore, MessageQueue
from shared.usecases.inbound.deps import INBOUND_QUEUE, MAX_NOTIFICATIONS_PER_POST, TABLE, lookup_pk

log = logging.getLogger("bookbridge.inbound")

#: Longest validation token echoed (Graph's are about 100 characters).
MAX_VALIDATION_TOKEN = 1024
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")


def validation_answer(token: str) -> str:
    """The body of the answer to Graph's validation request: the token itself (already URL-decoded)."""
    return token[:MAX_VALIDATION_TOKEN]


@dataclass
class Accepted:
    """What one POST carried."""

    enqueued: int = 0
    dropped: int = 0
    ignored: int = 0


def _event_id(item: Mapping[str, Any]) -> str:
    """The event id: the last segment of ``resource`` (``Users/{oid}/Events/{id}``)."""
    resource = str(item.get("resource") or "")
    head, _, tail = resource.rpartition("/")
    return tail if head.lower().endswith("events") else ""


def _message(item: Mapping[str, Any], row: Mapping[str, Any], lifecycle: bool) -> dict[str, Any] | None:
    base = {"workspace": str(row.get("workspace") or ""), "user": str(row.get("user") or ""),
            "subscription_id": str(item.get("subscriptionId") or "")}
    if lifecycle:
        event = item.get("lifecycleEvent")
        return {"op": "lifecycle", "event": event, **base} if event in LIFECYCLE_EVENTS else None
    event_id = _event_id(item)
    if not event_id or item.get("changeType") not in ("updated", "deleted"):
        return None
    return {"op": "change", "event_id": event_id, "change_type": item.get("changeType"), **base}


def accept(store: EntityStore, queue: MessageQueue, cipher: Cipher, items: Iterable[Mapping[str, Any]],
           *, lifecycle: bool = False) -> Accepted:
    """Check each notification's ``clientState`` against its subscription and enqueue the valid ones."""
    result = Accepted()
    rows: dict[str, Mapping[str, Any] | None] = {}
    for item in list(items)[:MAX_NOTIFICATIONS_PER_POST]:
        sid = str(item.get("subscriptionId") or "")
        if sid not in rows:
            rows[sid] = store.get(TABLE, lookup_pk(sid), "sub") if sid else None
        row = rows[sid]
        if row is None or not _state_matches(cipher, row, item.get("clientState")):
            result.dropped += 1
            log.warning("inbound: notification dropped (%s) sub=%s", "unknown subscription" if row is None
                        else "clientState mismatch", sid[:64])
            continue
        if not lifecycle and item.get("changeType") == "created":
            result.ignored += 1  # our own event's creation (see the module doc)
            continue
        message = _message(item, row, lifecycle)
        if message is None:
            result.dropped += 1
            log.warning("inbound: notification without a usable resource or event dropped sub=%s", sid[:64])
            continue
        queue.send(INBOUND_QUEUE, message)
        result.enqueued += 1
    return result


def _state_matches(cipher: Cipher, row: Mapping[str, Any], given: Any) -> bool:
    try:
        expected = cipher.decrypt(str(row.get("client_state") or ""))
    except UndecryptableSecret:
        return False
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


__all__ = ["Accepted", "LIFECYCLE_EVENTS", "MAX_VALIDATION_TOKEN", "accept", "validation_answer"]
