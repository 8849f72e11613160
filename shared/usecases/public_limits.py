"""Which rate limits the public routes apply, and to what key (rule 29).

Per client address: booking POSTs and slot GETs (checked by the handler before the body is parsed).
Per workspace: confirmations to one invitee address, and bookings of one calendar (checked by intake
after the calendar is known and before anything is stored). A calendar whose bookings all go to one
host's partition (one member, or collective: the first member's) counts inside the booking's own
transaction (:meth:`PublicLimits.calendar_count`), so a booking costs no counter request of its own
there and a booking that is not stored (409) is not counted. Reschedules of one booking are capped by
``max_reschedules`` in the booking use case itself (its ``revision`` counts them).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.domain.rate_limits import Limit, parse_limit
from shared.errors import ConfigurationError
from shared.ports import PendingCount

BOOKINGS_PER_CLIENT = "RATE_LIMIT_BOOKINGS_PER_CLIENT"
SLOTS_PER_CLIENT = "RATE_LIMIT_SLOTS_PER_CLIENT"
CONFIRMATIONS_PER_INVITEE = "RATE_LIMIT_CONFIRMATIONS_PER_INVITEE"
BOOKINGS_PER_CALENDAR = "RATE_LIMIT_BOOKINGS_PER_CALENDAR"
MAX_RESCHEDULES = "MANAGE_MAX_RESCHEDULES"


class RateLimiter(Protocol):
    """``shared.adapters.rate_limit_store.TableRateLimiter``."""

    def hit(self, limit: Limit | None, key: str | None) -> None: ...

    def pending(self, limit: Limit | None, table: str, pk: str, rk: str) -> PendingCount | None: ...


class SettingsReader(Protocol):
    """``shared.settings.Settings``."""

    def get(self, name: str) -> str | None: ...


@dataclass
class PublicLimits:
    """The configured limits over one limiter."""

    limiter: RateLimiter
    bookings_per_client: Limit | None
    slots_per_client: Limit | None
    confirmations_per_invitee: Limit | None
    bookings_per_calendar: Limit | None

    @classmethod
    def from_settings(cls, limiter: RateLimiter, settings: SettingsReader) -> PublicLimits:
        """Limits from the ``RATE_LIMIT_*`` settings; a malformed one is a ``ConfigurationError``."""
        def limit(name: str) -> Limit | None:
            try:
                return parse_limit(name, settings.get(name))
            except ValueError as exc:
                raise ConfigurationError(str(exc)) from None

        return cls(limiter, limit(BOOKINGS_PER_CLIENT), limit(SLOTS_PER_CLIENT), limit(CONFIRMATIONS_PER_INVITEE),
                   limit(BOOKINGS_PER_CALENDAR))

    def slots_request(self, client: str | None) -> None:
        """One slot GET of ``client`` (an unknown address is not limited per client)."""
        self.limiter.hit(self.slots_per_client, client)

    def booking_request(self, client: str | None) -> None:
        """One booking POST of ``client``."""
        self.limiter.hit(self.bookings_per_client, client)

    def calendar_limit(self, bookings_per_hour: int | None) -> Limit | None:
        """The calendar's own ``bookings_per_hour`` when it set one (a host may raise it), else the setting's."""
        if bookings_per_hour is None:
            return self.bookings_per_calendar
        return Limit(BOOKINGS_PER_CALENDAR, bookings_per_hour, 3600)

    def intake(self, workspace: str, calendar: str, invitee_email: str, bookings_per_hour: int | None = None,
               *, calendar_in_transaction: bool = False) -> None:
        """One booking about to be stored: its invitee's confirmations, and its calendar's bookings unless
        they are counted in the booking's transaction (:meth:`calendar_count`)."""
        self.limiter.hit(self.confirmations_per_invitee, f"{workspace}|{invitee_email.strip().lower()}")
        if not calendar_in_transaction:
            self.limiter.hit(self.calendar_limit(bookings_per_hour), f"{workspace}|{calendar}")

    def calendar_count(self, calendar: str, bookings_per_hour: int | None, table: str,
                       partition: str) -> PendingCount | None:
        """The calendar's counter hit for the booking's transaction in ``table``/``partition`` (row
        ``limit|{period}|{calendar}``); ``RateLimited`` when the calendar is at its limit."""
        limit = self.calendar_limit(bookings_per_hour)
        if limit is None:
            return None
        return self.limiter.pending(limit, table, partition, f"limit|{limit.period_seconds}|{calendar}")


def max_reschedules(settings: SettingsReader) -> int | None:
    """``MANAGE_MAX_RESCHEDULES`` (``None`` when 0: unlimited)."""
    raw = (settings.get(MAX_RESCHEDULES) or "").strip()
    if not raw.isdigit():
        raise ConfigurationError(f"{MAX_RESCHEDULES} must be a whole number (0: no cap)")
    return int(raw) or None
