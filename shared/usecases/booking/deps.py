"""What the booking use cases depend on, their limits, and the request and result of an intake."""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.domain.model import (
    LinkState,
)
from shared.ports import Clock, EntityStore, IntakeLimits, MessageQueue, Signer, iso_utc
from shared.repositories.calendar_cache import CalendarCache
from shared.usecases.availability import AvailabilityDeps

log = logging.getLogger("bookbridge.booking")


MANAGE_PURPOSE = "manage"
STALE_LOCK_AGE = timedelta(minutes=2)
STALE_CLAIM_AGE = timedelta(minutes=2)
LOCK_ATTEMPTS = 3
BOOKING_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
AWAITING = LinkState.AWAITING_CONNECTION.value


@dataclass
class BookingDeps:
    """Ports of the booking use cases."""

    store: EntityStore
    queue: MessageQueue
    clock: Clock
    signer: Signer
    availability: AvailabilityDeps
    limits: IntakeLimits | None = None
    """The rate limits checked before a booking is stored (``RateLimited`` refuses)."""
    max_reschedules: int | None = None
    """Reschedules one booking allows (``None``: no cap)."""
    calendars: CalendarCache | None = None
    """Intake's calendars by slug, kept a few seconds (``None``: read every time)."""


@dataclass(frozen=True)
class BookingRequest:
    """A validated intake request."""

    start: datetime
    name: str
    email: str
    timezone: str
    notes: str | None = None
    time_format: str | None = None  # "12h" / "24h": the invitee's clock, used by every email (issue 21)

    def fingerprint(self) -> str:
        """SHA-256 of the request's content (an Idempotency-Key is bound to one request)."""
        data = {"start": iso_utc(self.start), "name": self.name, "email": self.email,
                "timezone": self.timezone, "notes": self.notes or ""}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class BookingResult:
    """The 201 body of an intake; ``replayed`` when an Idempotency-Key returned an earlier booking."""

    body: dict[str, Any]
    replayed: bool = False


