"""The ports use cases depend on. Adapters implement them; tests use fakes of them.

``EntityExists`` lives in ``shared.errors`` with every other error class (importable from here too).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from shared.errors import EntityExists

if TYPE_CHECKING:  # pragma: no cover - typing only
    from shared.domain.availability import BusyBlock
    from shared.domain.connections import SignInResult, TokenResult
    from shared.mail.message import OutgoingMessage
    from shared.repositories.bookings import Booking

__all__ = [
    "AccessTokenCachePort", "AccessTokenPort", "BookingRepository", "CalendarDirectoryPort", "Cipher", "Clock",
    "ConnectionContainer", "ConnectionPort", "Entity", "EntityExists", "EntityStore", "FreeBusyCachePort",
    "GoogleCalendarPort", "Identity", "InboundGraph", "IntakeLimits", "MailTransport", "MailboxLimiterPort",
    "MailboxPort", "MeetingsGraph", "MessageQueue", "PendingCount", "ScheduleAnswer", "ScheduleFetcher", "Signer",
    "SystemClock", "TeamsUnavailablePort", "TokenProvider", "TransactionOp", "WebhookAnswer", "WebhookTransport",
    "iso_utc", "parse_iso_utc"]

Entity = dict[str, Any]
"""A table entity: ``PartitionKey``, ``RowKey`` and scalar values; ``_etag`` when read from a store."""

TransactionOp = tuple[Literal["create", "upsert", "update", "delete"], Entity]
"""One operation of an entity-group transaction; ``update``/``delete`` honour the entity's ``_etag``."""


class EntityStore(Protocol):
    """Table storage as the use cases need it. Every call is one storage request."""

    def get(self, table: str, partition_key: str, row_key: str) -> Entity | None:
        """Point read; ``None`` when absent."""

    def insert(self, table: str, entity: Entity) -> str:
        """Create; raises :class:`EntityExists`. Returns the new ETag."""

    def upsert(self, table: str, entity: Entity) -> str:
        """Create or replace. Returns the new ETag."""

    def update(self, table: str, entity: Entity, etag: str | None = None, *, merge: bool = False) -> str:
        """Replace (or merge) an existing entity, only if its ETag is still ``etag`` when given.

        Raises ``shared.errors.ConcurrencyConflict`` on an ETag mismatch and ``NotFound`` when absent.
        """

    def delete(self, table: str, partition_key: str, row_key: str, etag: str | None = None) -> None:
        """Delete; absent is fine. With ``etag``: raises ``ConcurrencyConflict`` on a mismatch."""

    def query(self, table: str, partition_key: str, *, row_key_from: str | None = None,
              row_key_to: str | None = None, select: Iterable[str] | None = None,
              limit: int | None = None) -> Iterator[Entity]:
        """Entities of ONE partition with ``row_key_from <= RowKey < row_key_to``, in RowKey order."""

    def scan(self, table: str, *, below: tuple[str, str] | None = None,
             select: Iterable[str] | None = None) -> Iterator[Entity]:
        """Entities of EVERY partition (a table scan, for housekeeping only); ``below=(name, value)`` keeps,
        server-side, those whose string property ``name`` is present and ``< value``."""

    def transact(self, table: str, operations: list[TransactionOp]) -> list[str | None] | None:
        """An entity-group transaction (same table, same partition, at most 100 operations); the new ETag
        of each operation's entity, in order (``None`` for a delete).

        All or nothing: raises :class:`EntityExists` when a create hits an existing entity and
        ``ConcurrencyConflict`` when an ETag condition fails.
        """


@dataclass
class PendingCount:
    """One rate-limit hit written INSIDE the caller's entity-group transaction (``op``, an ETag-guarded
    ``update`` of the counter row), so counting costs no request of its own. After the transaction the
    caller reports ``committed(new_etag)``; when the transaction's ETag condition failed (another instance
    counted meanwhile), it counts ``alone()`` (conditional writes of their own; ``RateLimited`` when over)."""

    op: TransactionOp
    committed: Callable[[str | None], None]
    alone: Callable[[], None]


class IntakeLimits(Protocol):
    """The rate limits intake applies before a booking is stored (``shared.usecases.public_limits.PublicLimits``);
    each raises ``RateLimited`` to refuse."""

    def intake(self, workspace: str, calendar: str, invitee_email: str, bookings_per_hour: int | None = None,
               *, calendar_in_transaction: bool = False) -> None:
        """Count the invitee's confirmation (and the calendar's booking unless ``calendar_in_transaction``)."""

    def calendar_count(self, calendar: str, bookings_per_hour: int | None, table: str,
                       partition: str) -> PendingCount | None:
        """The calendar's counter hit, to write in the booking's own transaction."""


class MessageQueue(Protocol):
    """Storage queues as the use cases need them (JSON messages, base64 on the wire)."""

    def send(self, queue: str, message: dict[str, Any], *, visibility_timeout: int = 0) -> None:
        """Put a message, invisible for ``visibility_timeout`` seconds."""


class Clock(Protocol):
    """The current time (tests pass a fixed or moving one)."""

    def now(self) -> datetime:
        """An aware UTC datetime."""


@dataclass
class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Now, in UTC."""
        return datetime.now(UTC)


def iso_utc(value: datetime) -> str:
    """``2026-11-22T09:30:00Z``: the one string form of instants in storage and messages."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso_utc(value: str) -> datetime:
    """Inverse of :func:`iso_utc` (accepts any ISO-8601 with offset or ``Z``)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"instant without offset: {value!r}")
    return parsed.astimezone(UTC)


# ================================================================================ secrets and links
class Signer(Protocol):
    """Signed, purpose-bound tokens: manage tokens and one-time links (``shared.adapters.signing.Signer``)."""

    def sign(self, purpose: str, payload: dict[str, Any]) -> str:
        """A token carrying ``payload`` for ``purpose``."""

    def verify(self, purpose: str, token: str) -> dict[str, Any] | None:
        """The payload of a valid ``token`` for ``purpose``; ``None`` otherwise."""


class Cipher(Protocol):
    """Authenticated encryption at rest (``shared.adapters.token_cipher.TokenCipher``)."""

    def encrypt(self, plaintext: str) -> str:
        """Ciphertext of ``plaintext``."""

    def decrypt(self, ciphertext: str) -> str:
        """Plaintext of ``ciphertext``; raises ``shared.errors.UndecryptableSecret``."""


# ================================================================================ Microsoft
class Identity(Protocol):
    """Microsoft's identity platform as the connection use cases need it (``MicrosoftIdentity``)."""

    def start_sign_in(self, scopes: list[str], redirect_uri: str, state: str) -> dict[str, Any]:
        """MSAL's auth-code flow (with ``auth_uri``) for ``scopes``."""

    def finish_sign_in(self, flow: dict[str, Any], auth_response: dict[str, str]) -> SignInResult:
        """Redeem the code of ``auth_response``."""

    def acquire_token_silent(
        self, cache_text: str, scopes: list[str], account_oid: str, account_tid: str, *, force_refresh: bool = False
    ) -> TokenResult:
        """An access token from a serialized MSAL cache (refreshed when needed)."""

    def admin_consent_url(self, tenant: str, scopes: list[str], redirect_uri: str, state: str) -> str:
        """Microsoft's admin-consent page for ``tenant``."""


class AccessTokenCachePort(Protocol):
    """A process's access tokens per connection slot ``(workspace, user, kind)`` (``AccessTokenCache``)."""

    def lookup(self, key: tuple[str, str, str], *, generation: int, account_oid: str, account_tid: str,
               now: datetime) -> str | None:
        """The token kept for this connection identity while it is still good; ``None`` otherwise."""
        ...

    def remember(self, key: tuple[str, str, str], access_token: str, *, expires_at: datetime, generation: int,
                 account_oid: str, account_tid: str, refresh_on: datetime | None = None) -> None:
        """Keep ``access_token`` for the connection identity it was obtained for."""
        ...

    def evict(self, key: tuple[str, str, str]) -> None:
        """Forget the slot's token."""
        ...


class MailboxLimiterPort(Protocol):
    """Graph requests per mailbox (``shared.adapters.mailbox_limiter.MailboxLimiter``, rule 27)."""

    def bind(self, token: str, key: str) -> None:
        """Remember that ``token`` acts on the mailbox ``key``."""
        ...


class FreeBusyCachePort(Protocol):
    """Free/busy answers per mailbox and window (``shared.adapters.mailbox_limiter.FreeBusyCache``, rule 27)."""

    def get_or_fetch(self, key: str, window: Any, fetch: Callable[[], Any], *,
                     cacheable: Callable[[Any], bool] = ...) -> Any:
        """The kept answer of ``key`` and ``window``, else ``fetch()`` (kept when ``cacheable``)."""
        ...


class GoogleCalendarPort(Protocol):
    """Calendar v3 of one account's primary calendar (``notify``: ``sendUpdates`` all/none): see the adapter."""

    def free_busy(self, token: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def insert_event(self, token: str, body: Entity, *, conference: bool, notify: bool = True) -> Entity: ...
    def patch_event(self, token: str, event_id: str, body: Entity, *, notify: bool = True) -> Entity: ...
    def delete_event(self, token: str, event_id: str, *, notify: bool = True) -> None: ...


class MailboxPort(Protocol):
    """The mailbox address of the account behind an access token (``shared.adapters.graph_user.MailboxReader``)."""

    def mailbox(self, token: str) -> str:
        """``GET /me``'s mail (or user principal name)."""
        ...


class CalendarDirectoryPort(Protocol):
    """The calendars of the account behind an access token (``shared.adapters.graph_user.CalendarDirectory``)."""

    def calendars(self, token: str) -> list[dict[str, Any]]:
        """``GET /me/calendars?$select=id,name,isDefaultCalendar,canEdit,allowedOnlineMeetingProviders``: Graph's
        ``calendar`` objects, every page."""
        ...


class AccessTokenPort(Protocol):
    """An access token of a host's connection; ``force_refresh`` skips the cache (after a Graph 401).

    Raises ``ReauthRequired`` (refresh failed: the connection is now ``needs_reauth``) or
    ``NotConnected`` (no ``connected`` connection of that kind).
    """

    def __call__(self, workspace: str, user: str, kind: str, *, force_refresh: bool = False) -> str: ...


TokenProvider = Callable[..., str]
"""``(workspace, user, kind, *, force_refresh=False, connection=None) -> access token``; raises
``ReauthRequired`` / ``NotConnected`` (``shared.usecases.connections.get_access_token`` bound to its deps).
``connection`` is the member's connection row availability has just read (so the provider need not read
it again); a provider without that keyword is not given it, and one that takes only the three positional
arguments works too (it is then never asked to force a refresh)."""


class ConnectionPort(Protocol):
    """A connection row (``connections`` table) or ``None``."""

    def __call__(self, workspace: str, user: str, kind: str) -> dict[str, Any] | None: ...


class TeamsUnavailablePort(Protocol):
    """Record on the host's ``teams`` connection that the account cannot create Teams meetings."""

    def __call__(self, workspace: str, user: str, reason: str) -> None: ...


class MeetingsGraph(Protocol):
    """The Graph calls of the meeting worker (``shared.adapters.graph_events.GraphEvents``)."""

    def create_event(self, token: str, body: dict[str, Any], *, calendar_id: str = "") -> dict[str, Any]: ...
    def get_event_online_meeting(self, token: str, event_id: str) -> dict[str, Any]: ...
    def update_event(self, token: str, event_id: str, patch: dict[str, Any]) -> dict[str, Any]: ...
    def cancel_event(self, token: str, event_id: str, comment: str) -> bool: ...
    def delete_event(self, token: str, event_id: str) -> bool: ...
    def create_or_get_online_meeting(self, token: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def update_online_meeting(self, token: str, meeting_id: str, patch: dict[str, Any]) -> dict[str, Any]: ...
    def find_online_meeting_by_join_url(self, token: str, join_url: str) -> dict[str, Any] | None: ...
    def delete_online_meeting(self, token: str, meeting_id: str) -> bool: ...


class ScheduleAnswer(Protocol):
    """One mailbox's free/busy answer (``shared.adapters.graph_calendar.ScheduleResult``)."""

    blocks: list[BusyBlock]
    error: str | None


ScheduleFetcher = Callable[[str, Sequence[str], datetime, datetime], Mapping[str, ScheduleAnswer]]
"""``(token, mailboxes, start, end) -> {mailbox.lower(): answer}`` (``graph_calendar.get_schedule``)."""


# ================================================================================ mail
@runtime_checkable
class MailTransport(Protocol):
    """Sends one message.

    Returns when the server or service has accepted it. Raises
    :class:`shared.errors.DeliveryRejected` when retrying cannot help (5xx SMTP reply,
    recipient refused, malformed address, 4xx HTTP answer) and
    :class:`shared.errors.TransientError` when it may (connection refused or timed out,
    4xx SMTP reply, HTTP 429/5xx; ``retry_after`` set when the service says so).
    """

    def send(self, message: OutgoingMessage) -> None:
        """Send ``message`` or raise ``DeliveryRejected`` / ``TransientError``."""
        ...


# ================================================================================ repositories
class BookingRepository(Protocol):
    """Point read and ETag-conditional replace of a booking (table ``schedule``)."""

    def load(self, workspace: str, host: str, booking_id: str) -> Booking | None:
        """The booking (with its ``etag``), or ``None``."""
        ...

    def save(self, booking: Booking) -> str:
        """Replace the booking if its ``etag`` still matches; returns the new ETag.

        Raises ``ConcurrencyConflict`` when it changed since it was read.
        """
        ...


class ConnectionContainer(Protocol):
    """What the connection use cases read from ``shared.bootstrap.Container`` (``ContainerDeps``)."""

    @property
    def store(self) -> EntityStore: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def cipher(self) -> Cipher: ...
    @property
    def identity(self) -> Identity: ...
    @property
    def google_identity(self) -> Identity: ...
    @property
    def signer(self) -> Signer: ...
    @property
    def queue(self) -> MessageQueue: ...
    @property
    def access_token_cache(self) -> AccessTokenCachePort: ...
    @property
    def mailbox_reader(self) -> MailboxPort: ...
    @property
    def mailbox_limiter(self) -> MailboxLimiterPort: ...
    @property
    def calendar_directory(self) -> CalendarDirectoryPort: ...
    @property
    def public_base_url(self) -> str: ...


# ================================================================================ webhooks
@dataclass(frozen=True)
class WebhookAnswer:
    """What a webhook receiver answered: its HTTP ``status`` (``None`` when there was no answer: refused,
    timed out, reset) and, then, a short id-free ``error``; ``duration_ms`` of the request."""

    status: int | None
    error: str | None = None
    duration_ms: int = 0


class WebhookTransport(Protocol):
    """Posts signed webhook bodies (``shared.adapters.webhook_sender.WebhookSender``): short timeouts, no
    redirects followed, never raises for the receiver's failures."""

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses ``host`` resolves to (empty when it does not resolve)."""
        ...

    def post(self, url: str, body: bytes, headers: Mapping[str, str], address: str | None = None) -> WebhookAnswer:
        """POST ``body`` to ``url`` (to ``address``, the checked one, when given); the receiver's answer."""
        ...


class HumanCheck(Protocol):
    """A server-side verifier of a challenge token (the booking intake's optional human check)."""

    def verify(self, token: str | None, remote_ip: str | None = None) -> bool: ...


class InboundGraph(Protocol):
    """Graph subscriptions on a host's events and the reads after a notification (issue 19; errors as
    ``GraphClient.request``'s): create; renew (``NotFound``: lapsed); delete (gone is fine); the event in UTC
    (``None``: 404, deleted); a full ``calendarView/delta`` round over ``[start, end)`` (every page's items)."""

    def create_subscription(self, token: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    def renew_subscription(self, token: str, subscription_id: str, expiration: str) -> dict[str, Any]: ...

    def delete_subscription(self, token: str, subscription_id: str) -> None: ...

    def get_event(self, token: str, event_id: str) -> dict[str, Any] | None: ...

    def calendar_view_delta(self, token: str, start: datetime, end: datetime) -> list[dict[str, Any]]: ...
