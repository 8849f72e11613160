"""What inbound sync (rule 19) depends on, its table and queue, and its limits."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.domain.model import ConnectionKind
from shared.ports import AccessTokenPort, Cipher, Clock, EntityStore, InboundGraph, MessageQueue

if TYPE_CHECKING:  # pragma: no cover - typing only
    from shared.usecases.booking.deps import BookingDeps

INBOUND_QUEUE = "inbound"
TABLE = "graphsubscriptions"
RENEW_PK = "renew"
CALENDAR = ConnectionKind.MICROSOFT_CALENDAR.value
#: "subscription resource type", "Maximum length of subscription per resource type": Outlook **event**,
#: 4230 minutes (under 3 days). Graph refuses a create or renewal beyond it.
MAX_LIFETIME_MINUTES = 4230
#: What we ask for: the maximum less a margin for clock skew between us and Graph.
DEFAULT_LIFETIME_MINUTES = MAX_LIFETIME_MINUTES - 30
#: Renewed this long before it expires (the timer runs every 30 minutes: many chances before the end).
DEFAULT_RENEW_BEFORE_MINUTES = 1440
#: The host's upcoming window a delta recovery reads (bookings further out are rare; the next recovery sees them).
RECOVERY_WINDOW_DAYS = 120
#: Subscriptions renewed per timer run at most (earliest first); the rest waits for the next run.
MAX_RENEWALS_PER_RUN = 500
#: Notifications taken from one POST at most (Graph batches a few).
MAX_NOTIFICATIONS_PER_POST = 100
NOTIFICATIONS_PATH = "/api/notifications/microsoft"
LIFECYCLE_PATH = "/api/notifications/microsoft/lifecycle"


@dataclass
class InboundDeps:
    """Everything inbound sync needs (``shared.bootstrap.Container.inbound_deps`` builds the real ones)."""

    store: EntityStore
    queue: MessageQueue
    clock: Clock
    graph: InboundGraph
    access_token: AccessTokenPort
    #: ``GRAPH_NOTIFICATION_BASE_URL`` (else ``PUBLIC_BASE_URL``): where Graph posts, https in Azure.
    notification_base_url: str
    #: Encrypts each subscription's ``clientState`` (the token cipher); ``None`` only to remove subscriptions.
    cipher: Cipher | None = None
    lifetime_minutes: int = DEFAULT_LIFETIME_MINUTES
    renew_before_minutes: int = DEFAULT_RENEW_BEFORE_MINUTES
    #: The booking use cases' deps (a host's delete cancels, a move reschedules); ``None`` in tests of
    #: subscriptions alone.
    bookings: BookingDeps | None = None

    @property
    def notification_url(self) -> str:
        return self.notification_base_url.rstrip("/") + NOTIFICATIONS_PATH

    @property
    def lifecycle_url(self) -> str:
        return self.notification_base_url.rstrip("/") + LIFECYCLE_PATH


def connection_pk(workspace: str, user: str) -> str:
    """Partition of a host's subscription row."""
    return f"{workspace}|{user}"


def lookup_pk(subscription_id: str) -> str:
    """Partition of the row a notification's ``subscriptionId`` is looked up by."""
    return f"sub|{subscription_id}"
