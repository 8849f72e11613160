"""``MessageQueue`` over Azure Storage Queues, base64-encoded like the Functions host's default."""
from __future__ import annotations

import json
import threading
from typing import Any

from shared.errors import StorageUnavailable


class StorageMessageQueue:
    """Sends JSON messages; queues are created idempotently on first use in this process."""

    def __init__(self, queue_service: Any) -> None:
        self._service = queue_service
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.requests = 0

    def _queue(self, name: str) -> Any:
        client = self._clients.get(name)
        if client is None:
            from azure.core.exceptions import ResourceExistsError
            from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy

            client = self._service.get_queue_client(
                name,
                message_encode_policy=BinaryBase64EncodePolicy(),
                message_decode_policy=BinaryBase64DecodePolicy(),
            )
            try:
                client.create_queue()
            except ResourceExistsError:
                pass
            except Exception as exc:  # noqa: BLE001
                raise StorageUnavailable(f"queue storage unreachable: {type(exc).__name__}") from exc
            with self._lock:
                self._clients[name] = client
        return client

    def send(self, queue: str, message: dict[str, Any], *, visibility_timeout: int = 0) -> None:
        """Put one JSON message, invisible for ``visibility_timeout`` seconds (max 7 days)."""
        client = self._queue(queue)
        body = json.dumps(message, separators=(",", ":"), sort_keys=True).encode("utf-8")
        with self._lock:
            self.requests += 1
        try:
            client.send_message(body, visibility_timeout=max(0, min(int(visibility_timeout), 7 * 24 * 3600)))
        except Exception as exc:  # noqa: BLE001
            raise StorageUnavailable(f"queue storage unreachable: {type(exc).__name__}") from exc

    def ping(self) -> None:
        """One cheap request that fails when queue storage does not answer."""
        try:
            next(iter(self._service.list_queues(results_per_page=1).by_page()), None)
        except Exception as exc:  # noqa: BLE001
            raise StorageUnavailable(f"queue storage unreachable: {type(exc).__name__}") from exc
