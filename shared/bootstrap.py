"""The composition root: the only module that names concrete adapter classes.

Nothing is built at import time. ``container()`` builds one ``Container`` per process on first use;
each adapter is built lazily on first access, so an HTTP handler that never touches MSAL never
imports it. Tests build their own ``Container`` (fakes, Azurite, a stand-in) and ``install`` it.
"""
from __future__ import annotations

import threading
from functools import cached_property
from typing import Any

from shared.ports import Clock, EntityStore, MessageQueue, SystemClock
from shared.settings import Settings


class Container:
    """Holds the settings and builds each adapter once, on first use."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: EntityStore | None = None,
        queue: MessageQueue | None = None,
        clock: Clock | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = settings or Settings()
        if store is not None:
            self.__dict__["store"] = store
        if queue is not None:
            self.__dict__["queue"] = queue
        self.__dict__["clock"] = clock or SystemClock()
        for name, value in overrides.items():
            self.__dict__[name] = value

    # ---------------------------------------------------------------- storage
    @cached_property
    def storage_account(self) -> Any:
        from shared.adapters.storage_account import StorageAccount

        return StorageAccount.from_settings(self.settings)

    @cached_property
    def store(self) -> EntityStore:
        from shared.adapters.table_store import TableEntityStore

        return TableEntityStore(self.storage_account.table_service())

    @cached_property
    def queue(self) -> MessageQueue:
        from shared.adapters.queue_store import StorageMessageQueue

        return StorageMessageQueue(self.storage_account.queue_service())

    @cached_property
    def storage_probe(self) -> tuple[Any, Any]:
        """Table and queue adapters that try once with short timeouts (for the health check)."""
        from shared.adapters.queue_store import StorageMessageQueue
        from shared.adapters.storage_account import PROBE_CLIENT_OPTIONS
        from shared.adapters.table_store import TableEntityStore

        account = self.storage_account
        return (TableEntityStore(account.table_service(**PROBE_CLIENT_OPTIONS)),
                StorageMessageQueue(account.queue_service(**PROBE_CLIENT_OPTIONS)))

    @property
    def clock(self) -> Clock:
        return self.__dict__["clock"]

    # ---------------------------------------------------------------- secrets
    @cached_property
    def cipher(self) -> Any:
        """Authenticated encryption of tokens at rest (``shared.adapters.token_cipher.TokenCipher``)."""
        from shared.adapters.token_cipher import TokenCipher

        return TokenCipher.from_settings(self.settings)

    @cached_property
    def signer(self) -> Any:
        """Signs manage tokens and one-time links (``shared.adapters.signing.Signer``)."""
        from shared.adapters.signing import Signer

        return Signer.from_settings(self.settings)

    # ---------------------------------------------------------------- Microsoft
    @cached_property
    def http_session(self) -> Any:
        """The ``requests.Session`` used for Microsoft (trusts MICROSOFT_CA_BUNDLE when set)."""
        import requests

        session = requests.Session()
        # Availability reads every member's free/busy at once (up to 64 threads): keep that many connections
        # per host, or each page opens (TLS) and throws away all but 10 of them.
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
    def identity(self) -> Any:
        """MSAL-backed sign-in and token refresh (``shared.adapters.microsoft_identity.MicrosoftIdentity``)."""
        from shared.adapters.microsoft_identity import MicrosoftIdentity

        return MicrosoftIdentity.from_settings(self.settings, self.http_session)

    @cached_property
    def graph(self) -> Any:
        """Microsoft Graph client (``shared.adapters.graph_client.GraphClient``)."""
        from shared.adapters.graph_client import GraphClient

        return GraphClient(self.settings.get("GRAPH_BASE_URL") or "", self.http_session,
                           limiter=self.mailbox_limiter, free_busy_cache=self.free_busy_cache)

    @cached_property
    def mailbox_limiter(self) -> Any:
        """At most 4 Graph requests in flight per mailbox in this process (rule 27), shared by every use."""
        from shared.adapters.mailbox_limiter import MailboxLimiter

        return MailboxLimiter()

    @cached_property
    def free_busy_cache(self) -> Any:
        """Free/busy answers for at most 60 s, dropped when bookbridge writes to that calendar (rule 27)."""
        from shared.adapters.mailbox_limiter import FreeBusyCache

        return FreeBusyCache()

    @cached_property
    def mailbox_reader(self) -> Any:
        """``GET /me?$select=mail,userPrincipalName`` (``shared.adapters.graph_user.MailboxReader``)."""
        from shared.adapters.graph_user import MailboxReader

        return MailboxReader(self.graph)

    @cached_property
    def access_token_cache(self) -> Any:
        """This process's in-process access tokens (``AccessTokenCache``), shared by every connection use."""
        from shared.adapters.access_token_cache import AccessTokenCache

        return AccessTokenCache()

    # ---------------------------------------------------------------- mail
    @cached_property
    def mail(self) -> Any:
        """The configured ``MailTransport`` (SMTP or Azure Communication Services)."""
        from shared.mail.transport import transport_from_settings

        return transport_from_settings(self.settings)

    # ---------------------------------------------------------------- use-case dependencies
    # Tests may override the Microsoft-facing ports on the container: ``token_provider`` (ws, user, kind,
    # *, force_refresh) -> token, ``meeting_ports`` (a dict of MeetingDeps ports), ``backfill_options``.
    def connection_deps(self) -> Any:
        """``ConnectionDeps`` of the connections use cases."""
        from shared.usecases.connections import ConnectionDeps

        return ConnectionDeps.from_container(self)

    def access_tokens(self) -> Any:
        """``(ws, user, kind, *, force_refresh=False) -> token`` over the connections use case."""
        override = self.__dict__.get("token_provider")
        if override is not None:
            return override
        from shared.usecases.connections import get_access_token

        deps = self.connection_deps()

        def provide(ws: str, user: str, kind: str, *, force_refresh: bool = False,
                    connection: dict[str, Any] | None = None) -> str:
            return get_access_token(deps, ws, user, kind, force_refresh=force_refresh, connection=connection)

        return provide

    def availability_deps(self) -> Any:
        """``AvailabilityDeps``: storage, clock, member tokens and Outlook free/busy."""
        from shared.usecases.availability import AvailabilityDeps

        def fetch_schedule(token: str, schedules: Any, start: Any, end: Any) -> Any:
            from shared.adapters.graph_calendar import get_schedule

            return get_schedule(self.graph, token, schedules, start, end)

        return AvailabilityDeps(store=self.store, clock=self.clock, tokens=self.access_tokens(),
                                fetch_schedule=fetch_schedule, mailbox_reader=self.mailbox_reader,
                                free_busy_cache=self.free_busy_cache)

    def booking_deps(self) -> Any:
        """``BookingDeps`` (a missing LINK_SIGNING_KEY fails here, before anything is stored)."""
        from shared.usecases.booking import BookingDeps

        return BookingDeps(store=self.store, queue=self.queue, clock=self.clock, signer=self.signer,
                           availability=self.availability_deps())

    def meeting_deps(self) -> Any:
        """``MeetingDeps``: Graph events/meetings and the connection ports."""
        from shared.usecases.meetings import MeetingDeps

        ports = dict(self.__dict__.get("meeting_ports") or {})
        if "graph" not in ports:
            from shared.adapters.graph_events import GraphEvents

            ports["graph"] = GraphEvents(self.graph)
        if not {"access_token", "connection", "mark_teams_unavailable"} <= ports.keys():
            from shared.usecases import connections

            cdeps = self.connection_deps()
            ports.setdefault("access_token", self.access_tokens())
            ports.setdefault("connection", lambda ws, user, kind: connections.get_connection(self.store, ws, user, kind))
            ports.setdefault("mark_teams_unavailable",
                             lambda ws, user, reason: connections.mark_teams_unavailable(cdeps, ws, user, reason))
        return MeetingDeps(store=self.store, queue=self.queue, clock=self.clock, **ports)

    def comms_deps(self) -> Any:
        """``CommsDeps``: storage, queue, mail transport, clock and signer."""
        from shared.usecases.communications import CommsDeps

        return CommsDeps(store=self.store, queue=self.queue, mail=self.mail, clock=self.clock, signer=self.signer,
                         public_base_url=self.settings.get("PUBLIC_BASE_URL") or "",
                         mail_from=self.settings.get("MAIL_FROM") or "")

    def backfill_deps(self) -> Any:
        """``BackfillDeps`` (limits from ``backfill_options`` when a test sets them)."""
        from shared.usecases.backfill import BackfillDeps

        options = dict(self.__dict__.get("backfill_options") or {})
        return BackfillDeps(store=self.store, queue=self.queue, clock=self.clock, **options)


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
