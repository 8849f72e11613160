"""A queue message that is not JSON is dropped with one log line naming the queue and the message id (never
its content), and the handler is not called; a JSON one is handed over."""
from __future__ import annotations

import logging

import azure.functions as func

from shared.queue_trigger import message_json


def test_a_message_that_is_not_json_is_dropped_and_logged_by_id(caplog) -> None:
    caplog.set_level(logging.ERROR, logger="bookbridge.queues")
    bad = func.QueueMessage(id="m-1", body=b"secret@example.com is not json")
    assert message_json(bad, "meetings") is None
    assert caplog.messages == ["meetings: message m-1 is not JSON; dropped"]
    assert message_json(func.QueueMessage(id="m-2", body=b'{"op": "create"}'), "meetings") == {"op": "create"}
