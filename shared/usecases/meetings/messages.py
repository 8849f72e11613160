"""The ``meetings`` queue message and what handling one did."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.usecases.queue_messages import BookingMessage, WorkerOutcome, json_object, parse_envelope

OPS = ("create", "reschedule", "cancel", "reconcile")
#: Longest ``backfill_row`` accepted (a timestamp, ``|`` and a booking id).
MAX_BACKFILL_ROW = 200
#: Longest ``due_row`` accepted (a timestamp and three ids).
MAX_DUE_ROW = 300


@dataclass(frozen=True)
class MeetingMessage(BookingMessage):
    """A parsed ``meetings`` queue message: the shared envelope and its ``op``."""

    op: str
    #: The ``backfillindex`` RowKey (``{start_utc}|{booking_id}``) a backfill sweep's ``create`` came from.
    backfill_row: str | None = None
    #: The ``reconciledue`` RowKey (``{due_at}|{ws}|{host}|{booking_id}``) a sweep's ``reconcile`` came from.
    due_row: str | None = None

    @classmethod
    def parse(cls, data: Any) -> MeetingMessage:
        """Validate a message; ``ValueError`` names what is wrong."""
        data = json_object(data)
        op = data.get("op")
        if op not in OPS:
            raise ValueError("op must be create, reschedule, cancel or reconcile")
        envelope = parse_envelope(data)
        row = data.get("backfill_row")
        if row is not None:
            start, _, booking_id = row.partition("|") if isinstance(row, str) else ("", "", "")
            if op != "create" or not start or booking_id != envelope["booking_id"] or len(row) > MAX_BACKFILL_ROW:
                raise ValueError("backfill_row must be '{start_utc}|{booking_id}' of a create")
        due = data.get("due_row")
        if due is not None:
            parts = due.split("|") if isinstance(due, str) else []
            if (op != "reconcile" or len(parts) != 4 or len(due) > MAX_DUE_ROW
                    or parts[1:] != [envelope["workspace"], envelope["host"], envelope["booking_id"]]):
                raise ValueError("due_row must be '{due_at}|{workspace}|{host}|{booking_id}' of a reconcile")
        return cls(op=op, backfill_row=row, due_row=due, **envelope)

    def to_dict(self) -> dict[str, Any]:
        """The queue form (``attempt`` only after the first)."""
        optional = {k: v for k, v in (("backfill_row", self.backfill_row), ("due_row", self.due_row))
                    if v is not None}
        return self.queue_dict({"op": self.op}, optional or None)


@dataclass(frozen=True)
class Outcome(WorkerOutcome):
    """What one message did, and the booking's ``link_state`` after it."""

    link_state: str | None = None
