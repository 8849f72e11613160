"""The one place that puts booking messages on the ``meetings`` and ``communications`` queues.

Message formats (docs/architecture.md):

* ``meetings``: ``{"op": "create"|"reschedule"|"cancel"|"reconcile", "workspace", "host", "booking_id",
  "revision", "attempt"?, "backfill_row"?, "due_row"?}`` (``backfill_row`` only on the backfill sweep's
  ``create``, ``due_row`` on the sweep's ``reconcile`` of a due retry)
* ``communications``: ``{"kind": "confirmation"|"reminder"|"link_update"|"reschedule"|"cancellation"|
  "host_notice", "workspace", "host", "booking_id", "revision", "offset_minutes"?, "due_at"?}``

``host`` is the booking's primary host (the partition of its row). Which messages each booking
event sends:

* confirmed: ``meetings/create`` only, put BEFORE the booking's transaction (it is the reconciler's
  intent: a stored booking always has it). The meeting worker does the rest: the Teams meeting when the
  link is ``pending`` and the host's Teams connection is connected, else ``awaiting_connection``
  (rule 3: the host is told why); the Outlook event when the host has a linked calendar (rule 9);
  ``communications/confirmation`` (with the link when there is one); the ``booking.created`` event.
* rescheduled: ``meetings/reschedule``; ``communications/reschedule`` unless the link is ``pending``
  (then the meeting worker sends it with the link).
* cancelled: ``meetings/cancel`` and ``communications/cancellation``.
"""
from __future__ import annotations

from typing import Any

from shared.domain.model import LinkState
from shared.ports import EntityStore, MessageQueue
from shared.usecases.queue_messages import envelope
from shared.usecases.webhooks import emit as webhook_events

MEETINGS_QUEUE = "meetings"
COMMUNICATIONS_QUEUE = "communications"
PENDING = LinkState.PENDING.value
AWAITING_CONNECTION = LinkState.AWAITING_CONNECTION.value


def meeting_message(op: str, workspace: str, host: str, booking_id: str, revision: int,
                    *, backfill_row: str | None = None, due_row: str | None = None) -> dict[str, Any]:
    """A ``meetings`` queue message (``backfill_row``: the ``backfillindex`` RowKey a sweep's ``create``
    came from; ``due_row``: the ``reconciledue`` RowKey a sweep's ``reconcile`` came from)."""
    msg: dict[str, Any] = {"op": op, **envelope(workspace, host, booking_id, revision)}
    if backfill_row is not None:
        msg["backfill_row"] = backfill_row
    if due_row is not None:
        msg["due_row"] = due_row
    return msg


def communication_message(kind: str, workspace: str, host: str, booking_id: str, revision: int,
                          *, offset_minutes: int | None = None, due_at: str | None = None) -> dict[str, Any]:
    """A ``communications`` queue message."""
    msg: dict[str, Any] = {"kind": kind, **envelope(workspace, host, booking_id, revision)}
    if offset_minutes is not None:
        msg["offset_minutes"] = int(offset_minutes)
    if due_at is not None:
        msg["due_at"] = due_at
    return msg


def send_meeting(queue: MessageQueue, op: str, workspace: str, host: str, booking_id: str, revision: int,
                 *, backfill_row: str | None = None, due_row: str | None = None) -> dict[str, Any]:
    """Put one ``meetings`` message; returns it."""
    msg = meeting_message(op, workspace, host, booking_id, revision, backfill_row=backfill_row, due_row=due_row)
    queue.send(MEETINGS_QUEUE, msg)
    return msg


def send_communication(queue: MessageQueue, kind: str, workspace: str, host: str, booking_id: str,
                       revision: int, *, offset_minutes: int | None = None, due_at: str | None = None,
                       visibility_timeout: int = 0) -> dict[str, Any]:
    """Put one ``communications`` message; returns it."""
    msg = communication_message(kind, workspace, host, booking_id, revision,
                                offset_minutes=offset_minutes, due_at=due_at)
    queue.send(COMMUNICATIONS_QUEUE, msg, visibility_timeout=visibility_timeout)
    return msg


def booking_confirmed(queue: MessageQueue, workspace: str, host: str, booking_id: str,
                      revision: int) -> list[dict[str, Any]]:
    """The message of a newly confirmed booking (see the module doc)."""
    return [send_meeting(queue, "create", workspace, host, booking_id, revision)]


def booking_rescheduled(queue: MessageQueue, workspace: str, host: str, booking_id: str, revision: int,
                        link_state: str, *, store: EntityStore | None = None) -> list[dict[str, Any]]:
    """Messages for a booking moved to a new time (same id, new revision). The webhook event goes first: it is
    kept in ``store``'s outbox when the queue is down, while the reconciler's sweep covers the others."""
    webhook_events.booking_event(queue, "booking.rescheduled", workspace, host, booking_id, revision, store=store)
    sent = [send_meeting(queue, "reschedule", workspace, host, booking_id, revision)]
    if link_state != PENDING:
        sent.append(send_communication(queue, "reschedule", workspace, host, booking_id, revision))
    return sent


def booking_cancelled(queue: MessageQueue, workspace: str, host: str, booking_id: str,
                      revision: int, *, store: EntityStore | None = None) -> list[dict[str, Any]]:
    """Messages for a cancelled booking (the webhook event first, as :func:`booking_rescheduled`)."""
    webhook_events.booking_event(queue, "booking.cancelled", workspace, host, booking_id, revision, store=store)
    return [
        send_meeting(queue, "cancel", workspace, host, booking_id, revision),
        send_communication(queue, "cancellation", workspace, host, booking_id, revision),
    ]
