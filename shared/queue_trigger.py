"""The body of a queue trigger's message, for the workers' handlers (``functions/``)."""
from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

log = logging.getLogger("bookbridge.queues")


def message_json(msg: func.QueueMessage, queue: str) -> Any | None:
    """The message's JSON; ``None`` (logged with the message id, and so dropped) when it is not JSON."""
    try:
        return msg.get_json()
    except ValueError:
        log.error("%s: message %s is not JSON; dropped", queue, msg.id)
        return None
