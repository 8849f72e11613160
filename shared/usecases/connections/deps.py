"""What the connection use cases depend on, their limits, and the checks they share."""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from shared.domain import connections as rules
from shared.domain.model import ConnectionKind
from shared.errors import (
    ConcurrencyConflict,
    NotFound,
    ValidationError,
)
from shared.ports import (
    AccessTokenCachePort,
    CalendarDirectoryPort,
    Cipher,
    Clock,
    ConnectionContainer,
    EntityStore,
    Identity,
    MailboxLimiterPort,
    MailboxPort,
    MessageQueue,
    Signer,
    parse_iso_utc,
)

log = logging.getLogger("bookbridge.connections")


CONNECT_LINK_PURPOSE = "connect-link"
ADMIN_CONSENT_LINK_PURPOSE = "admin-consent-link"
CALLBACK_PATH = "/api/auth/microsoft/callback"
GOOGLE_CALLBACK_PATH = "/api/auth/google/callback"
ADMIN_CONSENT_CALLBACK_PATH = "/api/auth/microsoft/admin-consent/callback"
CONNECT_PATH = "/api/connect/"
ADMIN_CONSENT_PATH = "/api/admin-consent/"
MAX_STATE_LENGTH = 512


class _NotGiven:
    """Stands for a port a ``ConnectionDeps`` was built without (a test that needs no such port)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        raise AttributeError(f"ConnectionDeps was built without a {self._name} (it has no {attr})")


@dataclass
class ConnectionDeps:
    """The dependencies of the connection use cases (tests build it with fakes)."""

    store: EntityStore
    clock: Clock
    cipher: Cipher = field(default_factory=lambda: cast(Cipher, _NotGiven("cipher")))
    identity: Identity = field(default_factory=lambda: cast(Identity, _NotGiven("identity")))
    google_identity: Identity = field(default_factory=lambda: cast(Identity, _NotGiven("google_identity")))
    """Google's OAuth 2.0 (``shared.adapters.google_identity.GoogleIdentity``) for ``google_calendar``."""
    signer: Signer = field(default_factory=lambda: cast(Signer, _NotGiven("signer")))
    queue: MessageQueue | None = None
    public_base_url: str = "http://127.0.0.1:7071"
    access_token_cache: AccessTokenCachePort | None = None
    """In-process access tokens (``AccessTokenCache``); ``None``: every call decrypts and asks MSAL."""
    mailbox_reader: MailboxPort | None = None
    """``GET /me?$select=mail,userPrincipalName`` (``shared.adapters.graph_user.MailboxReader``); ``None``: not read."""
    mailbox_limiter: MailboxLimiterPort | None = None
    """``MailboxLimiter``: every token handed out is bound to its account's mailbox (rule 27); ``None``: not bound."""
    calendar_directory: CalendarDirectoryPort | None = None
    """``GET /me/calendars`` (``shared.adapters.graph_user.CalendarDirectory``); ``None``: calendars not checked."""

    @staticmethod
    def from_container(container: ConnectionContainer) -> ContainerDeps:
        """The deps of a ``shared.bootstrap.Container``, each built on first use."""
        return ContainerDeps(container)


class ContainerDeps:
    """:class:`ConnectionDeps`' attributes read lazily from a bootstrap container (built when first used)."""

    def __init__(self, container: ConnectionContainer) -> None:
        self._c = container

    @property
    def store(self) -> EntityStore:
        return self._c.store

    @property
    def clock(self) -> Clock:
        return self._c.clock

    @property
    def cipher(self) -> Cipher:
        return self._c.cipher

    @property
    def identity(self) -> Identity:
        return self._c.identity

    @property
    def google_identity(self) -> Identity:
        return self._c.google_identity

    @property
    def signer(self) -> Signer:
        return self._c.signer

    @property
    def queue(self) -> MessageQueue | None:
        return self._c.queue

    @property
    def access_token_cache(self) -> AccessTokenCachePort | None:
        return self._c.access_token_cache

    @property
    def mailbox_reader(self) -> MailboxPort | None:
        return self._c.mailbox_reader

    @property
    def mailbox_limiter(self) -> MailboxLimiterPort | None:
        return self._c.mailbox_limiter

    @property
    def calendar_directory(self) -> CalendarDirectoryPort | None:
        return self._c.calendar_directory

    @property
    def public_base_url(self) -> str:
        return self._c.public_base_url


Deps = ConnectionDeps | ContainerDeps
"""What every connection use case takes."""


def identity_for(deps: Deps, kind: ConnectionKind) -> Identity:
    """Who signs the kind in: Microsoft (MSAL) for ``teams`` / ``microsoft_calendar``, Google otherwise."""
    return deps.identity if kind.is_microsoft else deps.google_identity


def provider_of(kind: ConnectionKind) -> str:
    """The provider's name people read on the pages of a sign-in of ``kind``."""
    return "Microsoft" if kind.is_microsoft else "Google"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def store_of(store_or_deps: EntityStore | Deps) -> EntityStore:
    """The store itself, or the store of the deps."""
    if isinstance(store_or_deps, (ConnectionDeps, ContainerDeps)):
        return store_or_deps.store
    return store_or_deps


def base_url(deps: Deps) -> str:
    """``PUBLIC_BASE_URL`` without its trailing slash."""
    return (deps.public_base_url or "http://127.0.0.1:7071").rstrip("/")


def kind_of(value: Any) -> ConnectionKind:
    kind = rules.parse_kind(value)
    if kind is None:
        allowed = ", ".join(k.value for k in ConnectionKind)
        raise ValidationError("kind", f"unknown connection kind; expected one of: {allowed}")
    return kind


def check_ids(workspace: str, user: str | None = None) -> None:
    if not rules.check_id(workspace):
        raise ValidationError("workspace", "must be 1-64 letters, digits, '.', '_' or '-'")
    if user is not None and not rules.check_id(user):
        raise ValidationError("user", "must be 1-64 letters, digits, '.', '_' or '-'")


def require_user(store: EntityStore, workspace: str, user: str) -> None:
    if store.get("users", workspace, user) is None:
        raise NotFound("user not found in this workspace")


def require_workspace(store: EntityStore, workspace: str) -> None:
    if store.get("workspaces", workspace, "workspace") is None:
        raise NotFound("workspace not found")


def expired(row: Mapping[str, Any], now: datetime) -> bool:
    try:
        return parse_iso_utc(str(row.get("expires_at") or "")) <= now
    except ValueError:
        return True


def claim_once(store: EntityStore, table: str, row: Mapping[str, Any], now: str, **clear: Any) -> bool:
    """Mark a one-time row used; only one caller wins (ETag-conditional). False when someone else did."""
    update = {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], "used": True, "used_at": now, **clear}
    try:
        store.update(table, update, row.get("_etag"), merge=True)
    except (ConcurrencyConflict, NotFound):
        return False
    return True
