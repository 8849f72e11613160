"""The ``inbound`` queue worker: one message, one of

* ``{"op": "subscribe", "workspace", "user"}`` — the calendar connected: a subscription on the host's events;
* ``{"op": "change", "workspace", "user", "event_id", "change_type", "subscription_id"}`` — an event changed
  (a notification, or a recovery): :func:`shared.usecases.inbound.changes.apply_change`;
* ``{"op": "lifecycle", "event", "workspace", "user", "subscription_id"}`` — "Reduce missing subscriptions
  and change notifications": ``reauthorizationRequired`` renews (a renewal reauthorizes), ``subscriptionRemoved``
  subscribes anew and recovers, ``missed`` recovers.

Messages only wake the worker; it acts on what is stored now, so duplicates are harmless. A host whose
calendar is no longer connected is skipped (a reconnect subscribes again). Throttling re-queues a copy
with a visibility delay from ``Retry-After``; other transient errors raise (the host retries, then poison).
"""
from __future__ import annotations

import logging
import re
from typing import Any

from shared.errors import NotConnected, ReauthRequired, Throttled
from shared.usecases.inbound import subscriptions
from shared.usecases.inbound.changes import apply_change
from shared.usecases.inbound.deps import INBOUND_QUEUE, InboundDeps
from shared.usecases.inbound.recover import recover

log = logging.getLogger("bookbridge.inbound")

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_EVENT_ID = 512
MAX_ATTEMPTS = 8


def parse(message: Any) -> dict[str, Any] | str:
    """The message as a dict, or why it is dropped."""
    if not isinstance(message, dict):
        return "not a JSON object"
    op = message.get("op")
    if op not in ("subscribe", "change", "lifecycle"):
        return "op must be subscribe, change or lifecycle"
    if not all(isinstance(message.get(k), str) and _ID.match(message[k]) for k in ("workspace", "user")):
        return "workspace and user must be ids"
    event_id = message.get("event_id")
    if op == "change" and not (isinstance(event_id, str) and 0 < len(event_id) <= MAX_EVENT_ID):
        return "a change needs its event_id"
    return message


def _lifecycle(deps: InboundDeps, ws: str, user: str, event: str) -> str:
    if event == "reauthorizationRequired":
        return subscriptions.renew(deps, ws, user)
    if event == "subscriptionRemoved":
        subscriptions.subscribe(deps, ws, user)
    recover(deps, ws, user)
    return f"recovered after {event}"


def handle_inbound_message(deps: InboundDeps, message: Any) -> str:
    """Process one ``inbound`` message; returns what was done (acknowledged), raises to let the host retry."""
    msg = parse(message)
    if isinstance(msg, str):
        log.error("inbound: message dropped: %s", msg)
        return f"dropped: {msg}"
    ws, user, op = msg["workspace"], msg["user"], msg["op"]
    try:
        if op == "subscribe":
            outcome = "subscribed " + str(subscriptions.subscribe(deps, ws, user)["subscription_id"])
        elif op == "change":
            outcome = apply_change(deps, ws, user, msg["event_id"])
        else:
            outcome = _lifecycle(deps, ws, user, str(msg.get("event")))
    except (NotConnected, ReauthRequired) as exc:
        outcome = f"skipped: the calendar connection is not usable ({exc.code})"
    except Throttled as exc:
        attempt = int(msg.get("attempt") or 1)
        if attempt >= MAX_ATTEMPTS:
            raise
        deps.queue.send(INBOUND_QUEUE, {**msg, "attempt": attempt + 1},
                        visibility_timeout=int(min(max(exc.retry_after or 1, 1), 300)))
        outcome = "throttled: re-queued"
    log.info("inbound: %s -> %s ws=%s user=%s", op, outcome, ws, user)
    return str(outcome)


def handle_inbound_poison(deps: InboundDeps, message: Any) -> str:
    """An ``inbound`` message that failed 5 times (``inbound-poison``): what it carried is not lost: the host's
    upcoming window is recovered with a delta query (every booking whose event differs gets a ``change``).
    A transient failure raises (the host retries, then ``inbound-poison-poison``)."""
    msg = parse(message)
    if isinstance(msg, str) or msg["op"] == "subscribe":
        log.error("inbound-poison: %s dropped", msg if isinstance(msg, str) else "subscribe (a sign-in retries)")
        return "dropped"
    try:
        queued = recover(deps, msg["workspace"], msg["user"])
    except (NotConnected, ReauthRequired) as exc:
        log.warning("inbound-poison: no recovery, calendar not usable (%s) ws=%s", exc.code, msg["workspace"])
        return "skipped"
    log.warning("inbound-poison: %s recovered by delta ws=%s user=%s queued=%d", msg["op"], msg["workspace"],
                msg["user"], queued)
    return f"recovered: {queued} queued"


__all__ = ["handle_inbound_message", "handle_inbound_poison", "parse"]
