"""Queue functions of the communications worker: ``communications``, ``communications-poison`` and
``hostnotices`` (a connection that needs a new sign-in).

Returning normally acknowledges the message (the host deletes it); raising lets the host retry it after
``visibilityTimeout`` until ``maxDequeueCount``, then it moves to ``communications-poison``. Transient
mail failures and early reminders are not exceptions here: the use case re-queues a delayed copy.
"""
from __future__ import annotations

from typing import Any

import azure.functions as func

from shared.queue_trigger import message_json

bp = func.Blueprint()


def _deps() -> Any:
    from shared import bootstrap

    return bootstrap.container().comms_deps()


@bp.queue_trigger(arg_name="msg", queue_name="communications", connection="AzureWebJobsStorage")
def communications_worker(msg: func.QueueMessage) -> None:
    """Send one confirmation, reminder, link update, reschedule/cancel notice or host notice (exactly once)."""
    from shared.usecases.communications import handle_communication

    body = message_json(msg, "communications")
    if body is not None:
        handle_communication(_deps(), body)


@bp.queue_trigger(arg_name="msg", queue_name="communications-poison", connection="AzureWebJobsStorage")
def communications_poison(msg: func.QueueMessage) -> None:
    """A communications message that kept failing: record ``delivery_error`` on the booking."""
    from shared.usecases.communications import handle_poison_message

    body = message_json(msg, "communications-poison")
    if body is not None:
        handle_poison_message(_deps(), body)


@bp.queue_trigger(arg_name="msg", queue_name="hostnotices", connection="AzureWebJobsStorage")
def connection_notices_worker(msg: func.QueueMessage) -> None:
    """Email a host whose connection needs a new sign-in (rule 21), once per transition, with a fresh link."""
    from shared.usecases.connection_notices import handle_connection_notice

    body = message_json(msg, "hostnotices")
    if body is not None:
        handle_connection_notice(_deps(), body)
