"""What the ``meetings`` and ``communications`` queues have in common: the message envelope, the
re-queue of a copy with a visibility delay, and the outcome a worker reports.

Every message on those queues (docs/architecture.md) is a JSON object
``{<op or kind>, "workspace", "host", "booking_id", "revision", <the worker's own fields>?, "attempt"?}``.
:class:`BookingMessage` holds the shared part; each worker subclasses it with its own fields
(``shared.usecases.meetings.MeetingMessage``: ``op``; ``shared.usecases.communications.CommsMessage``:
``kind``, ``offset_minutes``, ``due_at``) and writes its own ``parse`` and ``to_dict`` with
:func:`json_object`, :func:`parse_envelope` and :meth:`BookingMessage.queue_dict`.

Messages only wake a worker, and nothing sleeps: a transient failure puts a copy back with
``attempt+1`` (:func:`requeue`), invisible for :func:`retry_delay` seconds (``Retry-After`` or the
worker's back-off, whichever is longer).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeGuard, TypeVar

from shared.ports import MessageQueue

#: The envelope's key parts (``|`` separates them in table keys, so they may not contain it).
ID_FIELDS = ("workspace", "host", "booking_id")


def envelope(workspace: str, host: str, booking_id: str, revision: int) -> dict[str, Any]:
    """The shared fields of a queue message, in the order the queues carry them."""
    return {"workspace": workspace, "host": host, "booking_id": booking_id, "revision": int(revision)}


def is_json_int(value: Any) -> TypeGuard[int]:
    """True for a JSON integer (``true``/``false`` are not integers here, although Python says so)."""
    return isinstance(value, int) and not isinstance(value, bool)


def json_object(data: Any) -> Mapping[str, Any]:
    """``data`` itself when it is a JSON object; ``ValueError`` otherwise."""
    if not isinstance(data, Mapping):
        raise ValueError("message is not a JSON object")
    return data


def parse_envelope(data: Mapping[str, Any], *, max_id_length: int | None = None) -> dict[str, Any]:
    """Validate the shared fields of a message; returns them as keyword arguments of a :class:`BookingMessage`.

    ``workspace``, ``host`` and ``booking_id`` are non-empty strings without ``|`` (and at most
    ``max_id_length`` characters when given); ``revision`` (default 0) is a non-negative integer and
    ``attempt`` (default 1) a positive one. ``ValueError`` names what is wrong.
    """
    values: dict[str, Any] = {}
    for name in ID_FIELDS:
        value = data.get(name)
        if (not isinstance(value, str) or not value or "|" in value
                or (max_id_length is not None and len(value) > max_id_length)):
            raise ValueError(f"{name} must be a non-empty string without '|'")
        values[name] = value
    revision, attempt = data.get("revision", 0), data.get("attempt", 1)
    if not is_json_int(revision) or revision < 0:
        raise ValueError("revision must be a non-negative integer")
    if not is_json_int(attempt) or attempt < 1:
        raise ValueError("attempt must be a positive integer")
    values.update(revision=revision, attempt=attempt)
    return values


@dataclass(frozen=True, kw_only=True)
class BookingMessage:
    """The envelope of a ``meetings`` or ``communications`` message (a worker's message subclasses it)."""

    workspace: str
    host: str
    booking_id: str
    revision: int = 0
    attempt: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The queue form; each worker's subclass writes it with :meth:`queue_dict`."""
        raise NotImplementedError

    def queue_dict(self, head: Mapping[str, Any], optional: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``head`` (the worker's ``op`` or ``kind``), the envelope, the worker's ``optional`` fields, and
        ``attempt`` only after the first: the JSON object the queue carries."""
        out = {**head, **envelope(self.workspace, self.host, self.booking_id, self.revision), **(optional or {})}
        if self.attempt > 1:
            out["attempt"] = self.attempt
        return out


def retry_delay(retry_after: float | None, backoff: float, *, cap: int) -> int:
    """Seconds a re-queued copy stays invisible: the longer of ``retry_after`` and ``backoff``, rounded
    up, at least 1 and at most ``cap``."""
    return max(1, min(cap, math.ceil(max(float(retry_after or 0.0), float(backoff)))))


def requeue(queue: MessageQueue, queue_name: str, msg: BookingMessage, delay_seconds: int, *,
            count_attempt: bool = True) -> None:
    """Put a copy of ``msg`` back on ``queue_name``, invisible for ``delay_seconds`` (never a sleep).

    The copy carries ``attempt+1``, unless ``count_attempt`` is False (a wait that is no failure, such
    as a reminder that is not due yet).
    """
    copy = replace(msg, attempt=msg.attempt + 1) if count_attempt else msg
    queue.send(queue_name, copy.to_dict(), visibility_timeout=max(0, int(delay_seconds)))


M = TypeVar("M", bound=BookingMessage)


def parse_or_drop(parse: Callable[[Any], M], data: Any, queue: str, log: logging.Logger) -> M | str:
    """``parse(data)``, or why it is invalid (logged): an invalid message is dropped, never retried."""
    try:
        return parse(data)
    except ValueError as exc:
        log.error("%s: invalid message dropped: %s", queue, exc)
        return str(exc)


@dataclass(frozen=True)
class WorkerOutcome:
    """What one message did (for logs and tests): ``action``, a short id-free ``detail`` and, when a copy
    was re-queued, its ``requeue_delay`` in seconds. Each worker's ``Outcome`` adds what it reports."""

    action: str
    detail: str = ""
    requeue_delay: int | None = field(default=None, kw_only=True)


__all__ = [
    "BookingMessage", "ID_FIELDS", "WorkerOutcome", "envelope", "is_json_int", "json_object", "parse_envelope",
    "parse_or_drop", "requeue", "retry_delay",
]
