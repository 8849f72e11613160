"""Queue functions of the meeting worker: ``meetings`` (create/reschedule/cancel) and ``meetings-poison``.

Returning normally acknowledges the message (the host deletes it); raising lets the host retry it after
``visibilityTimeout`` until ``maxDequeueCount``, then it moves to ``meetings-poison``. Throttling is not
an exception here: the use case re-queues a delayed copy and returns.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import azure.functions as func

from shared.queue_trigger import message_json

bp = func.Blueprint()


@functools.lru_cache(maxsize=1)
def max_dequeue_count() -> int:
    """``extensions.queues.maxDequeueCount`` of the app's host.json (the host's default, 5, otherwise)."""
    import json

    try:
        data = json.loads((Path(__file__).resolve().parents[1] / "host.json").read_text(encoding="utf-8"))
        return max(1, int(data["extensions"]["queues"]["maxDequeueCount"]))
    except (OSError, ValueError, KeyError, TypeError):
        return 5


def _deps() -> Any:
    from shared import bootstrap

    return bootstrap.container().meeting_deps()


@bp.queue_trigger(arg_name="msg", queue_name="meetings", connection="AzureWebJobsStorage")
def meetings_worker(msg: func.QueueMessage) -> None:
    """Create, move or cancel a booking's Teams meeting / Outlook event (exactly once)."""
    from shared.usecases.meetings import handle_meeting_message

    body = message_json(msg, "meetings")
    if body is not None:
        handle_meeting_message(_deps(), body, dequeue_count=int(getattr(msg, "dequeue_count", None) or 1))


@bp.queue_trigger(arg_name="msg", queue_name="meetings-poison", connection="AzureWebJobsStorage")
def meetings_poison(msg: func.QueueMessage) -> None:
    """A meeting message that kept failing: mark the booking ``failed`` with the reason and tell people."""
    from shared.usecases.meetings import handle_poison_message

    body = message_json(msg, "meetings-poison")
    if body is not None:
        handle_poison_message(_deps(), body, max_dequeue_count=max_dequeue_count())
