"""What the communications worker depends on (ports, limits) and :class:`Job`, one message's context."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from shared.domain.backoff import default_backoff
from shared.ports import Clock, Entity, EntityStore, MailTransport, MessageQueue, Signer
from shared.repositories import bookings as bookings_repo
from shared.repositories.bookings import Booking
from shared.usecases import booking_events
from shared.usecases.communications.messages import CommsMessage

COMMUNICATIONS_QUEUE = booking_events.COMMUNICATIONS_QUEUE
COMMSENT = "commsent"

#: A ``sending`` claim older than this belongs to an attempt that crashed (> functionTimeout of 5 min).
STALE_CLAIM = timedelta(minutes=10)
#: Delivery attempts (transient failures, busy claims) before a message counts as undeliverable.
MAX_ATTEMPTS = 8
#: Longest back-off of a re-queued copy after a transient failure (seconds).
MAX_BACKOFF_SECONDS = 3600


def comms_backoff(attempt: int) -> float:
    """Back-off after ``attempt`` (1-based) failed: 30-60 s, 60-120 s, ... at most an hour."""
    return default_backoff(attempt, first=30.0, cap=float(MAX_BACKOFF_SECONDS))


@dataclass
class CommsDeps:
    """Everything the worker needs (``functions/communications_worker.py`` builds the real ones)."""

    store: EntityStore
    queue: MessageQueue
    mail: MailTransport
    clock: Clock
    signer: Signer
    public_base_url: str = "http://127.0.0.1:7071"
    mail_from: str = "bookings@bookbridge.local"
    stale_claim: timedelta = STALE_CLAIM
    max_attempts: int = MAX_ATTEMPTS
    backoff: Callable[[int], float] = comms_backoff


def sent_pk(workspace: str, booking_id: str) -> str:
    """Partition of a booking's sent-records."""
    return f"{workspace}|{booking_id}"


@dataclass
class Job:
    """One message's worth of work: the deps, the message and the booking's sent-records as last read."""

    deps: CommsDeps
    msg: CommsMessage
    rows: list[Entity] = field(default_factory=list)

    @property
    def pk(self) -> str:
        """The partition of the booking's sent-records."""
        return sent_pk(self.msg.workspace, self.msg.booking_id)

    def ids(self) -> str:
        """The message's ids, for logs."""
        return f"ws={self.msg.workspace} booking={self.msg.booking_id} kind={self.msg.kind} rev={self.msg.revision}"

    def load_booking(self) -> Booking | None:
        """The booking as stored now."""
        return bookings_repo.get_booking(self.deps.store, self.msg.workspace, self.msg.host, self.msg.booking_id)

    def load_rows(self) -> list[Entity]:
        """Read the booking's sent-records (kept in :attr:`rows`)."""
        self.rows = list(self.deps.store.query(COMMSENT, self.pk))
        return self.rows
