"""Emitting an event: one small message on the ``webhookevents`` queue, nothing else.

Emitting never fails the caller (a booking, a meeting worker write, a connection change): a queue that
does not answer is logged (ids only) and the event is not sent. The event id is derived from the facts
(type, workspace, subject, what changed), so emitting the same change twice delivers it once per webhook.
"""
from __future__ import annotations

import logging
from typing import Any

from shared.domain.webhooks import event_id, link_event_for
from shared.ports import MessageQueue
from shared.usecases.webhooks.deps import EVENTS_QUEUE

log = logging.getLogger("bookbridge.webhooks")


def emit_event(queue: MessageQueue | None, event_type: str, workspace: str, about: str, subject: dict[str, str],
         key: str) -> None:
    """Put one ``webhookevents`` message (``about``: ``booking`` or ``connection``, ``subject`` its ids);
    never raises."""
    ident = "|".join(subject.values())
    message: dict[str, Any] = {"id": event_id(event_type, workspace, ident, key), "type": event_type,
                               "workspace": workspace, about: subject}
    try:
        if queue is None:
            raise RuntimeError("no queue configured")
        queue.send(EVENTS_QUEUE, message)
    except Exception as exc:  # noqa: BLE001 - an event must never fail what it reports
        log.warning("webhooks: event %s not queued ws=%s (%s)", event_type, workspace, type(exc).__name__)


def booking_event(queue: MessageQueue | None, event_type: str, workspace: str, host: str, booking_id: str,
                  revision: int) -> None:
    """``booking.created|rescheduled|cancelled`` of one revision."""
    emit_event(queue, event_type, workspace, "booking", {"host": host, "id": booking_id}, str(int(revision)))


def link_event(queue: MessageQueue | None, before: Any, after: Any) -> None:
    """The ``meeting_link.*`` event of one booking write from ``before`` to ``after``, if it announces one."""
    found = link_event_for(before, after)
    if found is None:
        return
    ws, host, ident = (str(after.get(k) if isinstance(after, dict) else getattr(after, k, None))
                       for k in ("workspace", "host", "id"))
    emit_event(queue, found[0], ws, "booking", {"host": host, "id": ident}, found[1])


_CONNECTION_KEYS = {"connection.connected": "connected_generation", "connection.needs_reauth": "needs_reauth_at",
                    "connection.disconnected": "disconnected_at"}


def connection_event(queue: MessageQueue | None, event_type: str, entity: dict[str, Any]) -> None:
    """``connection.*`` from the connection row just written (``PartitionKey`` ``{ws}|{user}``, ``RowKey``
    the kind)."""
    ws, _, user = str(entity.get("PartitionKey") or "").partition("|")
    emit_event(queue, event_type, ws, "connection", {"user": user, "kind": str(entity.get("RowKey") or "")},
         str(entity.get(_CONNECTION_KEYS[event_type]) or ""))
