"""Storage queue triggers and queue output bindings with the Functions host's semantics.

A listener per queue-triggered function polls with randomized exponential back-off (100 ms up to
``maxPollingInterval``), fetches ``batchSize`` messages and fetches again when the number in flight
drops to ``newBatchThreshold``. A message is deleted on success; on failure it becomes visible
again after ``visibilityTimeout``, and when the failed attempt was number ``maxDequeueCount`` it
is copied to ``<queue>-poison`` and deleted. Bodies are base64 unless ``messageEncoding`` is none.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import logging
import random
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.functions import _abc as azf_abc
from azure.functions.queue import QueueMessage

from devhost.host_config import QueueOptions
from devhost.host_index import FunctionInfo, QueueTriggerInfo
from devhost.host_invoke import Invocation, log_invocation

log = logging.getLogger("devhost.queues")
PROCESSING_VISIBILITY = 600  # seconds a fetched message stays invisible while the function runs
MIN_POLLING_INTERVAL = 0.1
POISON_SUFFIX = "-poison"


def decode_body(raw: str, encoding: str) -> bytes:
    """The message body as the function sees it; raises ValueError for invalid base64."""
    if encoding == "base64":
        try:
            return base64.b64decode(raw.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise ValueError("message is not valid base64") from exc
    return raw.encode("utf-8")


def encode_body(body: bytes | str, encoding: str) -> str:
    """The text stored in the queue for a body written by an output binding."""
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if encoding == "base64":
        return base64.b64encode(data).decode("ascii")
    return data.decode("utf-8")


def output_messages(value: Any) -> list[bytes | str]:
    """Message bodies from an output value: str, bytes, QueueMessage or an iterable of them."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, bytearray)):
        return [bytes(value) if isinstance(value, bytearray) else value]
    if isinstance(value, azf_abc.QueueMessage):
        return [value.get_body()]
    if isinstance(value, Iterable) and not isinstance(value, dict):
        items: list[bytes | str] = []
        for item in value:
            if isinstance(item, (str, bytes)):
                items.append(item)
            elif isinstance(item, azf_abc.QueueMessage):
                items.append(item.get_body())
            else:
                raise TypeError(f"invalid data type in output queue message list: {type(item).__name__}")
        return items
    raise TypeError(f"unsupported queue output type: {type(value).__name__}")


class QueueGateway:
    """Queue clients per (connection, queue), created on first use; wakes listeners on writes."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str], Any] = {}
        self._watchers: dict[tuple[str, str], list[threading.Event]] = {}
        self._lock = threading.Lock()

    def client(self, connection: str, queue: str) -> Any:
        """A ``QueueClient`` (text messages, no encoding policy) for an existing queue."""
        key = (connection, queue)
        with self._lock:
            existing = self._clients.get(key)
        if existing is not None:
            return existing
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.queue import QueueClient

        # the SDK logs every request at INFO; the real host does not: log those at DEBUG
        # and like the host's own polling, fail fast: the listener backs off itself when storage is gone
        client = QueueClient.from_connection_string(connection, queue, http_logging_level=logging.DEBUG,
                                                    retry_total=1, connection_timeout=3, read_timeout=20)
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        with self._lock:
            return self._clients.setdefault(key, client)

    def watch(self, connection: str, queue: str, event: threading.Event) -> None:
        """Set ``event`` whenever this host writes to the queue."""
        with self._lock:
            self._watchers.setdefault((connection, queue), []).append(event)

    def send(self, connection: str, queue: str, texts: list[str]) -> None:
        """Put already encoded messages."""
        client = self.client(connection, queue)
        for text in texts:
            client.send_message(text)
        if texts:
            with self._lock:
                watchers = list(self._watchers.get((connection, queue), ()))
            for event in watchers:
                event.set()

    def close(self) -> None:
        """Close every client."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - best effort on shutdown
                pass


def trigger_value(trigger: QueueTriggerInfo, message: QueueMessage) -> Any:
    """What the function parameter receives: per its annotation str, bytes or a QueueMessage."""
    annotation = trigger.annotation
    if annotation in (str, "str"):
        return message.get_body().decode("utf-8")
    if annotation in (bytes, "bytes"):
        return message.get_body()
    return message


def adhoc_message(body: str) -> QueueMessage:
    """A message for an admin invocation (never stored in a queue)."""
    now = datetime.datetime.now(datetime.UTC)
    return QueueMessage(  # type: ignore[no-untyped-call]
        id=str(uuid.uuid4()), body=body, dequeue_count=1, insertion_time=now,
        expiration_time=now + datetime.timedelta(days=7), time_next_visible=now, pop_receipt=None)


Execute = Callable[[FunctionInfo, Any], Invocation]


class QueueListener:
    """Polls one queue for one function until stopped."""

    def __init__(self, fn: FunctionInfo, queue: str, connection: str, options: QueueOptions,
                 gateway: QueueGateway, execute: Execute) -> None:
        self.fn, self.queue, self._connection, self._options = fn, queue, connection, options
        self._gateway, self._execute = gateway, execute
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._in_flight = 0
        self._idle = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=options.batch_size + options.new_batch_threshold,
                                        thread_name_prefix=f"devhost-queue-{fn.name}")
        self._thread = threading.Thread(target=self._run, name=f"devhost-listener-{fn.name}", daemon=True)

    def start(self) -> None:
        """Start polling in a background thread."""
        self._gateway.watch(self._connection, self.queue, self._wake)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the polling loop to end (returns at once; :meth:`stop` waits)."""
        self._stop.set()
        self._wake.set()

    def stop(self) -> None:
        """Stop polling and wait for in-flight invocations to finish."""
        self.request_stop()
        if self._thread.is_alive():
            self._thread.join()
        self._pool.shutdown(wait=True)

    def _wait(self, seconds: float) -> bool:
        woken = self._wake.wait(seconds)
        self._wake.clear()
        return woken

    def _run(self) -> None:
        delay = MIN_POLLING_INTERVAL
        failing = False
        while not self._stop.is_set():
            with self._idle:
                while self._in_flight > self._options.new_batch_threshold and not self._stop.is_set():
                    self._idle.wait(0.5)
            if self._stop.is_set():
                break
            try:
                client = self._gateway.client(self._connection, self.queue)
                messages = list(client.receive_messages(messages_per_page=self._options.batch_size,
                                                        max_messages=self._options.batch_size,
                                                        visibility_timeout=PROCESSING_VISIBILITY))
                if failing:
                    log.info("queue '%s' is reachable again (function %s)", self.queue, self.fn.name)
                failing = False
            except Exception as exc:  # noqa: BLE001 - storage down: keep polling with back-off
                if not failing:
                    log.warning("polling queue '%s' for %s failed: %s", self.queue, self.fn.name, type(exc).__name__)
                failing, messages = True, []
            if messages:
                delay = MIN_POLLING_INTERVAL
                for message in messages:
                    with self._idle:
                        self._in_flight += 1
                    self._pool.submit(self._process, message)
                continue
            if self._wait(delay * random.uniform(0.8, 1.0)):
                delay = MIN_POLLING_INTERVAL
            else:
                delay = min(self._options.max_polling_interval, delay * 2)

    def _process(self, stored: Any) -> None:
        try:
            self._handle(stored)
        except Exception:  # noqa: BLE001 - never let a worker thread die silently
            log.exception("queue '%s': handling message %s failed", self.queue, stored.id)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _handle(self, stored: Any) -> None:
        client = self._gateway.client(self._connection, self.queue)
        try:
            body = decode_body(stored.content or "", self._options.message_encoding)
        except ValueError:
            log.error("queue '%s': message %s is not valid base64; moving it to the poison queue",
                      self.queue, stored.id)
            self._to_poison(client, stored)
            return
        message = QueueMessage(  # type: ignore[no-untyped-call]
            id=stored.id, body=body, dequeue_count=stored.dequeue_count, expiration_time=stored.expires_on,
            insertion_time=stored.inserted_on, time_next_visible=stored.next_visible_on, pop_receipt=stored.pop_receipt)
        try:
            argument = trigger_value(self.fn.trigger, message)  # type: ignore[arg-type]
        except UnicodeDecodeError as exc:  # the worker fails such an invocation: retried, then poison
            invocation = Invocation(self.fn.name, error=exc)
        else:
            invocation = self._execute(self.fn, argument)
        log_invocation(self.fn, invocation, queue=self.queue, message_id=stored.id,
                       dequeue_count=stored.dequeue_count)
        if invocation.ok:
            client.delete_message(stored.id, stored.pop_receipt)
        elif (stored.dequeue_count or 0) >= self._options.max_dequeue_count:
            log.warning("message %s of queue '%s' failed %s times: moving it to '%s%s'", stored.id, self.queue,
                        stored.dequeue_count, self.queue, POISON_SUFFIX)
            self._to_poison(client, stored)
        else:
            client.update_message(stored.id, stored.pop_receipt,
                                  visibility_timeout=int(self._options.visibility_timeout))

    def _to_poison(self, client: Any, stored: Any) -> None:
        self._gateway.send(self._connection, self.queue + POISON_SUFFIX, [stored.content or ""])
        client.delete_message(stored.id, stored.pop_receipt)
