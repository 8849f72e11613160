"""Helpers of the webhook tests on Azurite."""
from __future__ import annotations

import base64
import json
from typing import Any


def take_messages(conn: str, queue: str, workspace: str) -> list[dict[str, Any]]:
    """Visible messages of ``workspace`` on ``queue``, deleted; others' (the booking tests' events, which no
    worker reads here) are hidden for a minute so that the next page holds new ones."""
    from azure.storage.queue import QueueClient

    client = QueueClient.from_connection_string(conn, queue)
    mine: list[dict[str, Any]] = []
    while True:
        page = list(client.receive_messages(max_messages=32, visibility_timeout=60))
        for stored in page:
            body = json.loads(base64.b64decode(stored.content))
            if body.get("workspace") == workspace:
                mine.append(body)
                client.delete_message(stored)
        if not page:
            return mine
