"""The composition root: the only module that names concrete adapter classes.

Nothing is built at import time. ``container()`` builds one ``Container`` per process on first use;
each adapter is built lazily on first access, so an HTTP handler that never touches MSAL never
imports it. Tests build their own ``Container`` (fakes, Azurite, a stand-in) and ``install`` it.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cached_property, partial
from typing import TYPE_CHECKING

from shared.parts import Part
from shared.ports import (
    Cipher,
    Clock,
    EntityStore,
    HumanCheck,
    Identity,
    MailTransport,
    MessageQueue,
    ScheduleAnswer,
    Signer,
    SystemClock,
    TokenProvider,
    WebhookTransport,
)
from shared.settings import Settings

if TYPE_CHECKING:  # pragma: no cover - typing only: the adapters are imported when first built
    import requests

    from shared.adapters.access_token_cache import AccessTokenCache
    from shared.adapters.google_calendar import GoogleCalendarClient
    from shared.adapters.graph_client import GraphClient
    from shared.adapters.graph_user import CalendarDirectory, MailboxReader
    from shared.adapters.mailbox_limiter import FreeBusyCache, MailboxLimiter
    from shared.adapters.queue_store import StorageMessageQueue
    from shared.adapters.storage_account import StorageAccount
    from shared.repositories.calendar_cache import CalendarCache
    from shared.usecases.availability import AvailabilityDeps
    from shared.usecases.backfill import BackfillDeps
    from shared.usecases.backfill.deps import BackfillOptions
    from shared.usecases.booking import BookingDeps
    from shared.usecases.communications import CommsDeps
    from shared.usecases.connections import ContainerDeps
    from shared.usecases.inbound import InboundDeps
    from shared.usecases.meetings import MeetingDeps
    from shared.usecases.meetings.deps import MeetingPorts
    from shared.usecases.public_limits import PublicLimits
    from shared.usecases.webhooks import WebhookDeps

def _table_store(c: Container) -> EntityStore:
    from shared.adapters.table_store import TableEntityStore
    return TableEntityStore(c.storage_account.table_service())


def _message_queue(c: Container) -> MessageQueue:
    from shared.adapters.queue_store import StorageMessageQueue
    return StorageMessageQueue(c.storage_account.queue_service())


def _cipher(c: Container) -> Cipher:
    from shared.adapters.token_cipher import TokenCipher
    return TokenCipher.from_settings(c.settings)


def _signer(c: Container) -> Signer:
    from shared.adapters.signing import Signer as HmacSigner
    return HmacSigner.from_settings(c.settings)


def _identity(c: Container) -> Identity:
    from shared.adapters.microsoft_identity import MicrosoftIdentity
    return MicrosoftIdentity.from_settings(c.settings, c.http_session)


def _google_identity(c: Container) -> Identity:
    from shared.adapters.google_identity import GoogleIdentity

    return GoogleIdentity.from_settings(c.settings)


def _graph(c: Container) -> GraphClient:
    from shared.adapters.graph_client import GraphClient
    return GraphClient(c.settings.get("GRAPH_BASE_URL") or "", c.http_session, limiter=c.mailbox_limiter,
                       free_busy_cache=c.free_busy_cache)


def _mail(c: Container) -> MailTransport:
    from shared.mail.transport import transport_from_settings
    return transport_from_settings(c.settings)


class Container:
    """Holds the settings and builds each adapter once, on first use.

    What a test replaces is a constructor argument (or assigned later): storage, clock, secrets,
    Microsoft, mail, and the use-case ports ``token_provider`` (``(ws, user, kind, *, force_refresh)
    -> token``), ``meeting_ports`` (:class:`~shared.usecases.meetings.deps.MeetingPorts`) and
    ``backfill_options`` (:class:`~shared.usecases.backfill.deps.BackfillOptions`).
    """

    store = Part(_table_store)
    queue = Part(_message_queue)
    cipher = Part(_cipher)
    """Authenticated encryption of tokens at rest (``shared.adapters.token_cipher.TokenCipher``)."""
    signer = Part(_signer)
    """Signs manage tokens and one-time links (``shared.adapters.signing.Signer``)."""
    identity = Part(_identity)
    """MSAL-backed sign-in and token refresh (``shared.adapters.microsoft_identity.MicrosoftIdentity``)."""
    google_identity = Part(_google_identity)
    """Google's OAuth 2.0 through Authlib (``shared.adapters.google_identity.GoogleIdentity``)."""
    graph = Part(_graph)
    """Microsoft Graph client (``shared.adapters.graph_client.GraphClient``)."""
    mail = Part(_mail)
    """The configured ``MailTransport`` (SMTP or Azure Communication Services)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: EntityStore | None = None,
        queue: MessageQueue | None = None,
        clock: Clock | None = None,
        cipher: Cipher | None = None,
        signer: Signer | None = None,
        identity: Identity | None = None,
        graph: GraphClient | None = None,
        mail: MailTransport | None = None,
        token_provider: TokenProvider | None = None,
        meeting_ports: MeetingPorts | None = None,
        backfill_options: BackfillOptions | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.clock: Clock = clock or SystemClock()
        given = {"store": store, "queue": queue, "cipher": cipher, "signer": signer, "identity": identity,
                 "graph": graph, "mail": mail}
        for name, value in given.items():
            if value is not None:
                setattr(self, name, value)
        self.token_provider = token_provider
        self.meeting_ports: MeetingPorts = meeting_ports or {}
        self.backfill_options: BackfillOptions = backfill_options or {}
        self.webhook_transport: WebhookTransport | None = None

    @property
    def public_base_url(self) -> str:
        """``PUBLIC_BASE_URL`` (the local host's address when unset)."""
        return self.settings.get("PUBLIC_BASE_URL") or "http://127.0.0.1:7071"

    # ---------------------------------------------------------------- storage
    @cached_property
    def storage_account(self) -> StorageAccount:
        """The storage account of ``AzureWebJobsStorage``."""
        from shared.adapters.storage_account import StorageAccount

        return StorageAccount.from_settings(self.settings)

    @cached_property
    def storage_probe(self) -> tuple[EntityStore, StorageMessageQueue]:
        """Table and queue adapters that try once with short timeouts (for the health check)."""
        from shared.adapters.queue_store import StorageMessageQueue
        from shared.adapters.storage_account import PROBE_CLIENT_OPTIONS
        from shared.adapters.table_store import TableEntityStore

        account = self.storage_account
        return (TableEntityStore(account.table_service(**PROBE_CLIENT_OPTIONS)),
                StorageMessageQueue(account.queue_service(**PROBE_CLIENT_OPTIONS)))

    # ---------------------------------------------------------------- public endpoints
    @cached_property
    def public_limits(self) -> PublicLimits:
        """The public routes' rate limits over Table Storage counters (``PublicLimits``)."""
        from shared.adapters.rate_limit_store import TableRateLimiter
        from shared.usecases.public_limits import PublicLimits

        return PublicLimits.from_settings(TableRateLimiter(self.store, self.clock), self.settings)

    @cached_property
    def calendar_cache(self) -> CalendarCache:
        """Intake's calendars by slug, kept ``CALENDAR_CACHE_SECONDS`` in this process (``CalendarCache``)."""
        from shared.repositories.calendar_cache import CalendarCache

        return CalendarCache(self.request_storage[0], float(self.settings.get_int("CALENDAR_CACHE_SECONDS")))

    @cached_property
    def human_check(self) -> HumanCheck | None:
        """The booking intake's human check (``TurnstileVerifier``), or ``None`` when not configured."""
        secret = self.settings.get("TURNSTILE_SECRET_KEY")
        if not secret:
            return None
        import requests

        from shared.adapters.turnstile import TurnstileVerifier

        return TurnstileVerifier(secret, requests.Session(), self.settings.get("TURNSTILE_VERIFY_URL") or "")

    @cached_property
    def request_storage(self) -> tuple[EntityStore, MessageQueue]:
        """Store and queue of request paths: short timeouts (``REQUEST_CLIENT_OPTIONS``), or a test's own."""
        if not (Part.built(self, "store") or Part.built(self, "queue")) and "_store" in self.__dict__:
            return self.store, self.queue
        from shared.adapters.queue_store import StorageMessageQueue
        from shared.adapters.storage_account import REQUEST_CLIENT_OPTIONS, REQUEST_QUEUE_CLIENT_OPTIONS
        from shared.adapters.table_store import TableEntityStore

        account = self.storage_account
        return (TableEntityStore(account.table_service(**REQUEST_CLIENT_OPTIONS)),
                StorageMessageQueue(account.queue_service(**REQUEST_QUEUE_CLIENT_OPTIONS)))

    # ---------------------------------------------------------------- Microsoft
    @cached_property
    def http_session(self) -> requests.Session:
        """The ``requests.Session`` used for Microsoft (trusts MICROSOFT_CA_BUNDLE when set)."""
        import requests

        session = requests.Session()
        # Availability reads free/busy in up to 64 threads: keep that many connections per host (else TLS churn).
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=64)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        bundle = self.settings.get("MICROSOFT_CA_BUNDLE")
        if bundle:
            session.verify = bundle
            # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment would override ``verify``.
            session.trust_env = False
        return session

    @cached_property
    def mailbox_limiter(self) -> MailboxLimiter:
        """At most 4 Graph requests in flight per mailbox in this process (rule 27), shared by every use."""
        from shared.adapters.mailbox_limiter import MailboxLimiter
        return MailboxLimiter()

    @cached_property
    def free_busy_cache(self) -> FreeBusyCache:
        """Free/busy answers for at most 60 s, dropped when bookbridge writes to that calendar (rule 27)."""
        from shared.adapters.mailbox_limiter import FreeBusyCache
        return FreeBusyCache()

    @cached_property
    def mailbox_reader(self) -> MailboxReader:
        """``GET /me?$select=mail,userPrincipalName`` (``shared.adapters.graph_user.MailboxReader``)."""
        from shared.adapters.graph_user import MailboxReader
        return MailboxReader(self.graph)

    @cached_property
    def calendar_directory(self) -> CalendarDirectory:
        """``GET /me/calendars?$select=...`` (``shared.adapters.graph_user.CalendarDirectory``)."""
        from shared.adapters.graph_user import CalendarDirectory
        return CalendarDirectory(self.graph)

    @cached_property
    def google_calendar(self) -> GoogleCalendarClient:
        """Google Calendar v3 (``shared.adapters.google_calendar.GoogleCalendarClient``, its own session)."""
        import requests

        from shared.adapters.google_calendar import GoogleCalendarClient

        session = requests.Session()
        session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=64))
        return GoogleCalendarClient(self.settings.get("GOOGLE_CALENDAR_BASE_URL") or "", session)

    @cached_property
    def access_token_cache(self) -> AccessTokenCache:
        """This process's in-process access tokens (``AccessTokenCache``), shared by every connection use."""
        from shared.adapters.access_token_cache import AccessTokenCache
        return AccessTokenCache()

    # ---------------------------------------------------------------- use-case dependencies
    def connection_deps(self) -> ContainerDeps:
        """``ConnectionDeps`` of the connections use cases (each part built when a use case touches it)."""
        from shared.usecases.connections import ConnectionDeps
        return ConnectionDeps.from_container(self)

    def access_tokens(self) -> TokenProvider:
        """``(ws, user, kind, *, force_refresh=False) -> token`` over the connections use case."""
        if self.token_provider is not None:
            return self.token_provider
        from shared.usecases.connections import get_access_token

        deps = self.connection_deps()

        def provide(ws: str, user: str, kind: str, *, force_refresh: bool = False,
                    connection: dict[str, object] | None = None) -> str:
            return get_access_token(deps, ws, user, kind, force_refresh=force_refresh, connection=connection)

        return provide

    def availability_deps(self) -> AvailabilityDeps:
        """``AvailabilityDeps``: storage, clock, member tokens and Outlook free/busy."""
        from shared.usecases.availability import AvailabilityDeps

        def fetch_schedule(token: str, schedules: Sequence[str], start: datetime, end: datetime
                           ) -> Mapping[str, ScheduleAnswer]:
            from shared.adapters.graph_calendar import get_schedule

            return get_schedule(self.graph, token, schedules, start, end)

        return AvailabilityDeps(store=self.store, clock=self.clock, tokens=self.access_tokens(),
                                fetch_schedule=fetch_schedule, mailbox_reader=self.mailbox_reader,
                                free_busy_cache=self.free_busy_cache, google_calendar=self.google_calendar)

    def booking_deps(self) -> BookingDeps:
        """``BookingDeps`` on the request storage (a missing LINK_SIGNING_KEY fails here, before anything is stored)."""
        from shared.usecases.booking import BookingDeps
        from shared.usecases.public_limits import max_reschedules

        return BookingDeps(store=self.request_storage[0], queue=self.request_storage[1], clock=self.clock,
                           signer=self.signer, availability=self.availability_deps(), limits=self.public_limits,
                           max_reschedules=max_reschedules(self.settings), calendars=self.calendar_cache)

    def meeting_deps(self) -> MeetingDeps:
        """``MeetingDeps``: Graph events/meetings and the connection ports (``meeting_ports`` win)."""
        from shared.adapters.graph_events import GraphEvents
        from shared.usecases import connections
        from shared.usecases.meetings import MeetingDeps

        ports = self.meeting_ports
        cdeps = self.connection_deps()
        return MeetingDeps(
            store=self.store, queue=self.queue, clock=self.clock,
            graph=ports.get("graph") or GraphEvents(self.graph),
            access_token=ports.get("access_token") or self.access_tokens(),
            connection=ports.get("connection") or partial(connections.get_connection, self.store),
            mark_teams_unavailable=ports.get("mark_teams_unavailable") or partial(connections.mark_teams_unavailable,
                                                                                  cdeps),
            google_calendar=ports.get("google_calendar") or self.google_calendar,
        )

    def comms_deps(self) -> CommsDeps:
        """``CommsDeps``: storage, queue, mail transport, clock and signer."""
        from shared.usecases.communications import CommsDeps

        return CommsDeps(store=self.store, queue=self.queue, mail=self.mail, clock=self.clock, signer=self.signer,
                         public_base_url=self.settings.get("PUBLIC_BASE_URL") or "",
                         mail_from=self.settings.get("MAIL_FROM") or "")

    def backfill_deps(self) -> BackfillDeps:
        """``BackfillDeps`` (limits from ``backfill_options`` when a test sets them)."""
        from shared.usecases.backfill import BackfillDeps

        return BackfillDeps(store=self.store, queue=self.queue, clock=self.clock, **self.backfill_options)

    def inbound_deps(self, *, for_disconnect: bool = False) -> InboundDeps:
        """``InboundDeps`` (rule 19); ``for_disconnect``: only what removing a subscription needs."""
        from shared.adapters.graph_subscriptions import GraphSubscriptions
        from shared.usecases.inbound import InboundDeps

        s, full = self.settings, not for_disconnect
        return InboundDeps(store=self.store, queue=self.queue, clock=self.clock, cipher=self.cipher if full else None,
                           graph=GraphSubscriptions(self.graph), access_token=self.access_tokens(),
                           notification_base_url=s.get("GRAPH_NOTIFICATION_BASE_URL") or self.public_base_url,
                           lifetime_minutes=s.get_int("GRAPH_SUBSCRIPTION_MINUTES"),
                           renew_before_minutes=s.get_int("GRAPH_SUBSCRIPTION_RENEW_BEFORE_MINUTES"),
                           bookings=self.booking_deps() if full else None)

    def webhook_deps(self) -> WebhookDeps:
        """``WebhookDeps``; local development is ``AZURE_FUNCTIONS_ENVIRONMENT=Development`` (as Core Tools sets)."""
        from shared.adapters.webhook_sender import WebhookSender
        from shared.usecases.webhooks import WebhookDeps

        local = (self.settings.get("AZURE_FUNCTIONS_ENVIRONMENT") or "").lower() == "development"
        self.webhook_transport = self.webhook_transport or WebhookSender()  # one session per process
        return WebhookDeps(store=self.store, queue=self.queue, clock=self.clock, cipher=self.cipher,
                           transport=self.webhook_transport, local_development=local)


_lock = threading.Lock()
_current: Container | None = None


def container() -> Container:
    """The process's container, built on first use."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                quiet_sdk_logging()
                _current = Container()
    return _current


def quiet_sdk_logging() -> None:
    """The Azure SDK logs every storage request (URLs with keys) at INFO: keep only its warnings."""
    import logging

    logging.getLogger("azure").setLevel(logging.WARNING)


def install(replacement: Container | None) -> None:
    """Use ``replacement`` from now on (tests); ``None`` forgets the current one."""
    global _current
    with _lock:
        _current = replacement
