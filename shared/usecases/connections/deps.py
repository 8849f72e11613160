"""What the connection use cases depend on, their limits, and the checks they share."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Protocol

from shared.domain import connections as rules
from shared.domain.model import ConnectionKind
from shared.errors import (
    ConcurrencyConflict,
    NotFound,
    ValidationError,
)
from shared.ports import Clock, EntityStore, MessageQueue, parse_iso_utc

log = logging.getLogger("bookbridge.connections")


CONNECT_LINK_PURPOSE = "connect-link"


ADMIN_CONSENT_LINK_PURPOSE = "admin-consent-link"


CALLBACK_PATH = "/api/auth/microsoft/callback"


ADMIN_CONSENT_CALLBACK_PATH = "/api/auth/microsoft/admin-consent/callback"


CONNECT_PATH = "/api/connect/"


ADMIN_CONSENT_PATH = "/api/admin-consent/"


MAX_ATTEMPTS = 4


MAX_STATE_LENGTH = 512


class Identity(Protocol):
    """What the use cases need from Microsoft's identity platform (``MicrosoftIdentity``)."""

    def start_sign_in(self, scopes: list[str], redirect_uri: str, state: str) -> dict[str, Any]: ...

    def finish_sign_in(self, flow: dict[str, Any], auth_response: dict[str, str]) -> rules.SignInResult: ...

    def acquire_token_silent(
        self, cache_text: str, scopes: list[str], account_oid: str, account_tid: str, *, force_refresh: bool = False
    ) -> rules.TokenResult: ...

    def admin_consent_url(self, tenant: str, scopes: list[str], redirect_uri: str, state: str) -> str: ...


class Cipher(Protocol):
    """Authenticated encryption at rest (``TokenCipher``)."""

    def encrypt(self, plaintext: str) -> str: ...

    def decrypt(self, ciphertext: str) -> str: ...


class Signer(Protocol):
    """Signed tokens (``Signer``)."""

    def sign(self, purpose: str, payload: dict[str, Any]) -> str: ...

    def verify(self, purpose: str, token: str) -> dict[str, Any] | None: ...


@dataclass
class ConnectionDeps:
    """The dependencies of the connection use cases (tests build it with fakes)."""

    store: EntityStore
    clock: Clock
    cipher: Any = None
    identity: Any = None
    signer: Any = None
    queue: MessageQueue | None = None
    public_base_url: str = "http://127.0.0.1:7071"
    access_token_cache: Any = None
    """In-process access tokens (``AccessTokenCache``); ``None``: every call decrypts and asks MSAL."""
    mailbox_reader: Any = None
    """``GET /me?$select=mail,userPrincipalName`` (``shared.adapters.graph_user.MailboxReader``); ``None``: not read."""
    mailbox_limiter: Any = None
    """``MailboxLimiter``: every token handed out is bound to its account's mailbox (rule 27); ``None``: not bound."""

    @staticmethod
    def from_container(container: Any) -> "ContainerDeps":
        """The deps of a ``shared.bootstrap.Container``, each built on first use."""
        return ContainerDeps(container)


class ContainerDeps:
    """:class:`ConnectionDeps`' attributes read lazily from a bootstrap container."""

    def __init__(self, container: Any) -> None:
        self._c = container

    store = property(lambda self: self._c.store)
    clock = property(lambda self: self._c.clock)
    cipher = property(lambda self: self._c.cipher)
    identity = property(lambda self: self._c.identity)
    signer = property(lambda self: self._c.signer)
    queue = property(lambda self: self._c.queue)
    access_token_cache = property(lambda self: self._c.access_token_cache)
    mailbox_reader = property(lambda self: self._c.mailbox_reader)
    mailbox_limiter = property(lambda self: self._c.mailbox_limiter)
    public_base_url = property(lambda self: self._c.settings.get("PUBLIC_BASE_URL") or "http://127.0.0.1:7071")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def store_of(store_or_deps: Any) -> EntityStore:
    if hasattr(store_or_deps, "store") and not hasattr(store_or_deps, "get"):
        return store_or_deps.store  # type: ignore[no-any-return]
    return store_or_deps  # type: ignore[no-any-return]


def base_url(deps: Any) -> str:
    return str(getattr(deps, "public_base_url", "") or "http://127.0.0.1:7071").rstrip("/")


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
