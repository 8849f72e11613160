"""Access tokens of a connection: the in-process cache, then MSAL's silent refresh."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.domain import connections as rules
from shared.domain import google
from shared.domain.model import ConnectionKind, ConnectionStatus
from shared.errors import (
    ConcurrencyConflict,
    ConfigurationError,
    NotConnected,
    NotFound,
    PermanentError,
    ReauthRequired,
    TransientError,
)
from shared.ports import AccessTokenCachePort, EntityStore, iso_utc
from shared.repositories.optimistic import ReadAgain, optimistic_update, starting_with
from shared.usecases.connection_notices import announce_needs_reauth
from shared.usecases.connections.deps import Deps, identity_for, kind_of, provider_of
from shared.usecases.mailbox_address import mailbox_key
from shared.usecases.webhooks import emit as webhook_events

log = logging.getLogger("bookbridge.connections")


def token_cache(deps: Deps) -> AccessTokenCachePort | None:
    return getattr(deps, "access_token_cache", None)


def evict_token(deps: Deps, workspace: str, user: str, kind: ConnectionKind) -> None:
    cache = token_cache(deps)
    if cache is not None:
        cache.evict((workspace, user, kind.value))


def generation_of(conn: Mapping[str, Any]) -> int:
    try:
        return int(conn.get("connected_generation") or 0)
    except (TypeError, ValueError):
        return -1


def _bound(deps: Deps, token: str, conn: Mapping[str, Any]) -> str:
    """``token``, bound to its account's mailbox in ``deps.mailbox_limiter`` (rule 27) when there is one (a
    Google token has no Outlook mailbox)."""
    if deps.mailbox_limiter is not None and conn.get("kind") != ConnectionKind.GOOGLE_CALENDAR.value:
        deps.mailbox_limiter.bind(token, mailbox_key(conn))
    return token


def _remember_token(deps: Deps, key: tuple[str, str, str], conn: Mapping[str, Any], result: rules.TokenResult,
                    now: datetime) -> None:
    """Keep ``result``'s token for the connection identity of ``conn`` (only when its lifetime is known)."""
    cache = token_cache(deps)
    if cache is None or not result.access_token or result.expires_in is None:
        return
    refresh_on = now + timedelta(seconds=result.refresh_in) if result.refresh_in is not None else None
    cache.remember(key, result.access_token, expires_at=now + timedelta(seconds=result.expires_in),
                   generation=generation_of(conn), account_oid=str(conn.get("account_oid") or ""),
                   account_tid=str(conn.get("account_tid") or ""), refresh_on=refresh_on)


def get_access_token(deps: Deps, workspace: str, user: str, kind: Any, *, force_refresh: bool = False,
                     connection: Mapping[str, Any] | None = None) -> str:
    """A valid Graph access token for a ``connected`` slot, refreshed silently when needed.

    ``force_refresh`` skips the cached access token (after Graph refused it with a 401) and forgets the
    in-process one. ``connection``: the slot's ``connections`` row as the caller point-read it for this
    same request (availability reads it for the mailbox), so it is not read a second time; otherwise it
    is read here. Either way every call decides on the row's current state.

    The in-process cache (``deps.access_token_cache``) is used ONLY when the row is ``connected`` with the
    same ``connected_generation`` and account (oid, tid) as when the token was obtained and the token has
    more than 5 minutes left; otherwise the stored MSAL cache is decrypted and MSAL asked, and the fresh
    token kept.

    Raises ``NotConnected`` (no slot, or ``disconnected``), ``ReauthRequired`` (``needs_reauth``, or the
    refresh failed now: the slot is marked with the reason), ``ConfigurationError`` (our app registration
    was refused) or a ``TransientError`` (Microsoft or storage unavailable; retry later). A refreshed cache
    is written back only when MSAL changed it, ETag-guarded: when another worker wrote first, its cache
    wins and is read again.
    """
    slot = _Slot(deps, workspace, user, kind_of(kind), force_refresh)
    if force_refresh:
        slot.evict()
    given = connection if connection is not None and connection.get("PartitionKey") == slot.pk \
        and connection.get("RowKey") == slot.kind.value else None

    store: EntityStore = deps.store

    def read() -> Mapping[str, Any] | None:
        return store.get(rules.CONNECTIONS_TABLE, slot.pk, slot.kind.value)

    return optimistic_update(read if given is None else starting_with(given, read), slot.token,
                             what="the connection (token renewal)", races=(), retry_after=1)


@dataclass
class _Slot:
    """One connection slot whose access token is asked for (``force_refresh``: skip every cached token)."""

    deps: Deps
    workspace: str
    user: str
    kind: ConnectionKind
    force_refresh: bool

    @property
    def pk(self) -> str:
        return rules.connection_pk(self.workspace, self.user)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.workspace, self.user, self.kind.value)

    def evict(self) -> None:
        """Forget the in-process token of the slot."""
        cache = token_cache(self.deps)
        if cache is not None:
            cache.evict(self.key)

    def token(self, conn: Mapping[str, Any] | None) -> str:
        """A token for the slot as ``conn`` says it is now (``ReadAgain`` after a lost race)."""
        status = (conn or {}).get("status")
        if conn is None or status == ConnectionStatus.DISCONNECTED.value:
            self.evict()
            raise NotConnected(f"no connected {self.kind.value} connection")
        if status != ConnectionStatus.CONNECTED.value:
            self.evict()
            raise ReauthRequired(reason=str(conn.get("last_error") or "needs_reauth"),
                                 consent_required=bool(conn.get("consent_required")))
        cache = token_cache(self.deps)
        if cache is not None and not self.force_refresh:
            cached = cache.lookup(self.key, generation=generation_of(conn),
                                  account_oid=str(conn.get("account_oid") or ""),
                                  account_tid=str(conn.get("account_tid") or ""), now=self.deps.clock.now())
            if cached is not None:
                return _bound(self.deps, cached, conn)
        outcome = self.refresh(conn)
        if isinstance(outcome, str):
            return outcome
        return self.fail(conn, outcome)

    def refresh(self, conn: Mapping[str, Any]) -> str | rules.RefreshFailure:
        """Decrypt the stored MSAL cache and ask MSAL; the token, or why there is none."""
        deps = self.deps
        row = deps.store.get(rules.TOKEN_CACHES_TABLE, self.pk, self.kind.value)
        if row is None or not row.get("cache"):
            return rules.RefreshFailure("needs_reauth", "tokens_missing: no stored sign-in for this connection")
        try:
            cache_text = deps.cipher.decrypt(row["cache"])
        except PermanentError:
            return rules.RefreshFailure(
                "needs_reauth", "tokens_unreadable: the stored sign-in cannot be decrypted with the current keys")
        asked_at = deps.clock.now()
        result = identity_for(deps, self.kind).acquire_token_silent(
            cache_text, rules.scopes_for(self.kind), str(conn.get("account_oid") or ""),
            str(conn.get("account_tid") or ""), force_refresh=self.force_refresh)
        if not result.access_token and not self.kind.is_microsoft:
            if result.no_account:
                return rules.RefreshFailure("needs_reauth", "no_refresh_token: the stored sign-in holds none")
            return google.classify_refresh_failure(result.error)
        if not result.access_token:
            return rules.classify_refresh_failure(
                result.error, result.error_description, result.error_codes, no_account=result.no_account)
        if result.cache is not None:
            self.store_cache(row, result.cache)
        _remember_token(deps, self.key, conn, result, asked_at)
        return _bound(deps, str(result.access_token), conn)

    def store_cache(self, row: Mapping[str, Any], cache_text: str) -> None:
        """Write MSAL's changed cache back, ETag-guarded; when another worker wrote first, read again."""
        deps = self.deps
        try:
            deps.store.update(rules.TOKEN_CACHES_TABLE, {
                **{key: v for key, v in row.items() if not key.startswith("_")},
                "cache": deps.cipher.encrypt(cache_text),
                "updated_at": iso_utc(deps.clock.now()),
            }, row.get("_etag"))
        except (ConcurrencyConflict, NotFound):
            log.info("token cache changed concurrently ws=%s user=%s kind=%s; reading again",
                     self.workspace, self.user, self.kind.value)
            self.force_refresh = False  # the other writer has just refreshed
            raise ReadAgain() from None

    def fail(self, conn: Mapping[str, Any], failure: rules.RefreshFailure) -> str:
        """Raise what ``failure`` means; a refused refresh marks the slot ``needs_reauth`` first."""
        if failure.outcome == "transient":
            log.warning("token refresh unavailable ws=%s user=%s kind=%s", self.workspace, self.user,
                        self.kind.value)
            raise TransientError(f"{provider_of(self.kind)} could not renew the token: {failure.reason}",
                                 retry_after=30)
        if failure.outcome == "configuration":
            raise ConfigurationError(f"{provider_of(self.kind)} refused the app's credentials: {failure.reason}")
        self.evict()
        entity = rules.needs_reauth(conn, reason=failure.reason, consent_required=failure.consent_required,
                                    now=iso_utc(self.deps.clock.now()))
        try:
            self.deps.store.update(rules.CONNECTIONS_TABLE, entity, conn.get("_etag"))
        except (ConcurrencyConflict, NotFound):
            raise ReadAgain() from None  # the slot changed (reconnected?): decide again on what it is now
        webhook_events.connection_event(self.deps.queue, "connection.needs_reauth", entity, store=self.deps.store)
        announce_needs_reauth(self.deps.queue, entity)
        log.warning("connection needs reauth ws=%s user=%s kind=%s reason=%s", self.workspace, self.user,
                    self.kind.value, failure.reason)
        raise ReauthRequired(reason=failure.reason, consent_required=failure.consent_required)
