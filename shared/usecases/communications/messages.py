"""The ``communications`` queue message and what handling one did."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.ports import parse_iso_utc
from shared.usecases.queue_messages import BookingMessage, WorkerOutcome, is_json_int, json_object, parse_envelope

KINDS = ("confirmation", "reminder", "link_update", "reschedule", "cancellation", "host_notice", "cohost_invite")


@dataclass(frozen=True)
class CommsMessage(BookingMessage):
    """A parsed ``communications`` queue message: the shared envelope, its ``kind`` and, for a
    ``reminder``, ``offset_minutes`` and ``due_at``."""

    kind: str
    offset_minutes: int | None = None
    due_at: str | None = None

    @classmethod
    def parse(cls, data: Any) -> CommsMessage:
        """Validate a message; ``ValueError`` names what is wrong."""
        data = json_object(data)
        kind = data.get("kind")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        envelope = parse_envelope(data, max_id_length=200)
        offset, due = data.get("offset_minutes"), data.get("due_at")
        if kind == "reminder":
            if not is_json_int(offset) or offset <= 0:
                raise ValueError("a reminder needs a positive offset_minutes")
            if not isinstance(due, str):
                raise ValueError("a reminder needs due_at")
            try:
                parse_iso_utc(due)
            except ValueError:
                raise ValueError("due_at must be an ISO-8601 instant") from None
        else:
            offset, due = None, None
        return cls(kind=kind, offset_minutes=offset, due_at=due, **envelope)

    def to_dict(self) -> dict[str, Any]:
        """The queue form (``attempt`` only after the first)."""
        optional: dict[str, Any] = {}
        if self.offset_minutes is not None:
            optional["offset_minutes"] = self.offset_minutes
        if self.due_at is not None:
            optional["due_at"] = self.due_at
        return self.queue_dict({"kind": self.kind}, optional)


@dataclass(frozen=True)
class Outcome(WorkerOutcome):
    """What one message did, and the kind it sent (or would have sent)."""

    sent_kind: str | None = None
