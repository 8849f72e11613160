"""Inbound sync (rule 19): what the host changes in Outlook flows back to the booking.

``deps`` (table, queue, limits, ``InboundDeps``), ``subscriptions`` (one Graph subscription per connected
``microsoft_calendar``: create, renew by the timer, remove), ``notifications`` (the anonymous routes: the
validation handshake, ``clientState`` checked, only enqueued), ``changes`` (the worker's re-read and rule 19
through the booking use cases), ``recover`` (the delta query after a lapse or a ``missed``), ``worker``.
"""
from __future__ import annotations

from shared.usecases.inbound.deps import INBOUND_QUEUE, InboundDeps
from shared.usecases.inbound.notifications import Accepted, accept, validation_answer
from shared.usecases.inbound.subscriptions import (
    RenewRun,
    disconnect,
    renew_due,
    request_subscription,
    subscribe,
    unsubscribe,
)
from shared.usecases.inbound.worker import handle_inbound_message, handle_inbound_poison

__all__ = ["Accepted", "INBOUND_QUEUE", "InboundDeps", "RenewRun", "accept", "disconnect", "handle_inbound_message",
           "handle_inbound_poison",
           "renew_due", "request_subscription", "subscribe", "unsubscribe", "validation_answer"]
