"""Small helpers for the devhost tests: waiting for conditions and reading queues."""
from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.05) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.0f}s")
        time.sleep(interval)


class Recorder:
    """Thread-safe lists of what the test functions saw, per key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, list[Any]] = defaultdict(list)

    def add(self, key: str, value: Any) -> None:
        """Record one observation."""
        with self._lock:
            self._seen[key].append(value)

    def get(self, key: str) -> list[Any]:
        """A copy of the observations under ``key``."""
        with self._lock:
            return list(self._seen[key])


def peek_texts(connection_string: str, queue: str) -> list[str]:
    """Raw texts of the visible messages of a queue (up to 32), without dequeuing them."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.queue import QueueClient

    with QueueClient.from_connection_string(connection_string, queue) as client:
        try:
            return [m.content for m in client.peek_messages(max_messages=32)]
        except ResourceNotFoundError:
            return []


def send_text(connection_string: str, queue: str, text: str, *, encode: bool = True) -> None:
    """Put one message (base64-encoded like the host's default unless ``encode`` is false)."""
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.queue import QueueClient

    with QueueClient.from_connection_string(connection_string, queue) as client:
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        client.send_message(base64.b64encode(text.encode()).decode() if encode else text)


def b64(text: str) -> str:
    """Base64 of a UTF-8 string."""
    return base64.b64encode(text.encode()).decode()
