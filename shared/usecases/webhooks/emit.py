"""Emitting an event: one small message on the ``webhookevents`` queue.

Emitting never fails the caller (a booking, a meeting worker write, a connection change). When the queue does
not take the message, it is kept in the ``webhookoutbox`` table instead (``store``), and
:func:`drain_event_outbox` (a timer, every two minutes) puts it on the queue once the queue answers again: an
outage of the queue service delays events, it does not lose them. Only when table storage does not answer
either is the event logged (ids only) and dropped. The event id is derived from the facts (type, workspace,
subject, what changed), so emitting the same change twice, or draining a kept event that was queued after
all, delivers it once per webhook.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from shared.domain.webhooks import event_id, link_event_for
from shared.errors import BookbridgeError, ConcurrencyConflict
from shared.ports import EntityStore, MessageQueue
from shared.repositories import webhooks as repo
from shared.usecases.webhooks.deps import EVENTS_QUEUE

log = logging.getLogger("bookbridge.webhooks")


def emit_event(queue: MessageQueue | None, event_type: str, workspace: str, about: str, subject: dict[str, str],
               key: str, *, store: EntityStore | None = None) -> None:
    """Put one ``webhookevents`` message (``about``: ``booking`` or ``connection``, ``subject`` its ids), or
    keep it in the outbox of ``store`` when the queue does not take it; never raises."""
    ident = "|".join(subject.values())
    message: dict[str, Any] = {"id": event_id(event_type, workspace, ident, key), "type": event_type,
                               "workspace": workspace, about: subject}
    try:
        if queue is None:
            raise RuntimeError("no queue configured")
        queue.send(EVENTS_QUEUE, message)
        return
    except Exception as exc:  # noqa: BLE001 - an event must never fail what it reports
        failure = type(exc).__name__
    if store is not None:
        try:
            store.upsert(repo.OUTBOX, {"PartitionKey": repo.OUTBOX_PK, "RowKey": message["id"],
                                       "message_json": json.dumps(message, separators=(",", ":"))})
            log.warning("webhooks: event %s kept in the outbox ws=%s (%s)", event_type, workspace, failure)
            return
        except Exception as exc:  # noqa: BLE001
            failure = f"{failure}, outbox {type(exc).__name__}"
    log.warning("webhooks: event %s not queued ws=%s (%s)", event_type, workspace, failure)


def drain_event_outbox(store: EntityStore, queue: MessageQueue, *, limit: int = 500) -> int:
    """Queue the events kept in the outbox (at most ``limit``), deleting each once queued; how many went.
    Stops at the first message the queue does not take (it is still down: the next run goes on)."""
    drained = 0
    for row in store.query(repo.OUTBOX, repo.OUTBOX_PK, limit=limit):
        try:
            message = json.loads(str(row.get("message_json") or ""))
        except ValueError:
            message = None
        if isinstance(message, dict):
            try:
                queue.send(EVENTS_QUEUE, message)
            except BookbridgeError as exc:
                log.warning("webhooks: outbox not drained (%s); %d event(s) queued", exc.code, drained)
                return drained
            drained += 1
        try:
            store.delete(repo.OUTBOX, repo.OUTBOX_PK, str(row["RowKey"]), row.get("_etag"))
        except ConcurrencyConflict:
            pass  # kept again meanwhile: the next run sends it again (the same event id: delivered once)
    if drained:
        log.info("webhooks: %d kept event(s) queued from the outbox", drained)
    return drained


def booking_event(queue: MessageQueue | None, event_type: str, workspace: str, host: str, booking_id: str,
                  revision: int, *, store: EntityStore | None = None) -> None:
    """``booking.created|rescheduled|cancelled`` of one revision."""
    emit_event(queue, event_type, workspace, "booking", {"host": host, "id": booking_id}, str(int(revision)),
               store=store)


def link_event(queue: MessageQueue | None, before: Any, after: Any, *, store: EntityStore | None = None) -> None:
    """The ``meeting_link.*`` event of one booking write from ``before`` to ``after``, if it announces one."""
    found = link_event_for(before, after)
    if found is None:
        return
    ws, host, ident = (str(after.get(k) if isinstance(after, dict) else getattr(after, k, None))
                       for k in ("workspace", "host", "id"))
    emit_event(queue, found[0], ws, "booking", {"host": host, "id": ident}, found[1], store=store)


_CONNECTION_KEYS = {"connection.connected": "connected_generation", "connection.needs_reauth": "needs_reauth_at",
                    "connection.disconnected": "disconnected_at"}


def connection_event(queue: MessageQueue | None, event_type: str, entity: dict[str, Any], *,
                     store: EntityStore | None = None) -> None:
    """``connection.*`` from the connection row just written (``PartitionKey`` ``{ws}|{user}``, ``RowKey``
    the kind)."""
    ws, _, user = str(entity.get("PartitionKey") or "").partition("|")
    emit_event(queue, event_type, ws, "connection", {"user": user, "kind": str(entity.get("RowKey") or "")},
               str(entity.get(_CONNECTION_KEYS[event_type]) or ""), store=store)
