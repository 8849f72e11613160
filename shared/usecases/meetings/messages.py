"""The ``meetings`` queue message and what handling one did."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.usecases.queue_messages import BookingMessage, WorkerOutcome, json_object, parse_envelope

OPS = ("create", "reschedule", "cancel")
#: Longest ``backfill_row`` accepted (a timestamp, ``|`` and a booking id).
MAX_BACKFILL_ROW = 200


@dataclass(frozen=True)
class MeetingMessage(BookingMessage):
    """A parsed ``meetings`` queue message: the shared envelope and its ``op``."""

    op: str
    #: The ``backfillindex`` RowKey (``{start_utc}|{booking_id}``) a backfill sweep's ``create`` came from.
    backfill_row: str | None = None

    @classmethod
    def parse(cls, data: Any) -> MeetingMessage:
        """Validate a message; ``ValueError`` names what is wrong."""
        data = json_object(data)
        op = data.get("op")
        if op not in OPS:
            raise ValueError("op must be create, reschedule or cancel")
        envelope = parse_envelope(data)
        row = data.get("backfill_row")
        if row is not None:
            start, _, booking_id = row.partition("|") if isinstance(row, str) else ("", "", "")
            if op != "create" or not start or booking_id != envelope["booking_id"] or len(row) > MAX_BACKFILL_ROW:
                raise ValueError("backfill_row must be '{start_utc}|{booking_id}' of a create")
        return cls(op=op, backfill_row=row, **envelope)

    def to_dict(self) -> dict[str, Any]:
        """The queue form (``attempt`` only after the first)."""
        return self.queue_dict({"op": self.op},
                               {"backfill_row": self.backfill_row} if self.backfill_row is not None else None)


@dataclass(frozen=True)
class Outcome(WorkerOutcome):
    """What one message did, and the booking's ``link_state`` after it."""

    link_state: str | None = None
