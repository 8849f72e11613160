"""Access tokens of a connection: the in-process cache, then MSAL's silent refresh."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Mapping

from shared.domain import connections as rules
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
from shared.ports import iso_utc
from shared.usecases.connections.deps import MAX_ATTEMPTS, kind_of
from shared.usecases.mailbox_address import mailbox_key

log = logging.getLogger("bookbridge.connections")


def token_cache(deps: Any) -> Any:
    return getattr(deps, "access_token_cache", None)


def evict_token(deps: Any, workspace: str, user: str, kind: ConnectionKind) -> None:
    cache = token_cache(deps)
    if cache is not None:
        cache.evict((workspace, user, kind.value))


def generation_of(conn: Mapping[str, Any]) -> int:
    try:
        return int(conn.get("connected_generation") or 0)
    except (TypeError, ValueError):
        return -1


def _bound(deps: Any, token: str, conn: Mapping[str, Any]) -> str:
    """``token``, bound to its account's mailbox in ``deps.mailbox_limiter`` (rule 27) when there is one."""
    limiter = getattr(deps, "mailbox_limiter", None)
    if limiter is not None:
        limiter.bind(token, mailbox_key(conn))
    return token


def _remember_token(deps: Any, key: tuple[str, str, str], conn: Mapping[str, Any], result: rules.TokenResult,
                    now: datetime) -> None:
    """Keep ``result``'s token for the connection identity of ``conn`` (only when its lifetime is known)."""
    cache = token_cache(deps)
    if cache is None or not result.access_token or result.expires_in is None:
        return
    refresh_on = now + timedelta(seconds=result.refresh_in) if result.refresh_in is not None else None
    cache.remember(key, result.access_token, expires_at=now + timedelta(seconds=result.expires_in),
                   generation=generation_of(conn), account_oid=str(conn.get("account_oid") or ""),
                   account_tid=str(conn.get("account_tid") or ""), refresh_on=refresh_on)


def get_access_token(deps: Any, workspace: str, user: str, kind: Any, *, force_refresh: bool = False,
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
    k = kind_of(kind)
    store = deps.store
    pk = rules.connection_pk(workspace, user)
    slot = (workspace, user, k.value)
    cache = token_cache(deps)
    if force_refresh and cache is not None:
        cache.evict(slot)
    given = connection if connection is not None and connection.get("PartitionKey") == pk \
        and connection.get("RowKey") == k.value else None
    for _ in range(MAX_ATTEMPTS):
        conn = given if given is not None else store.get(rules.CONNECTIONS_TABLE, pk, k.value)
        given = None  # a retry reads the row again
        status = (conn or {}).get("status")
        if conn is None or status == ConnectionStatus.DISCONNECTED.value:
            if cache is not None:
                cache.evict(slot)
            raise NotConnected(f"no connected {k.value} connection")
        if status != ConnectionStatus.CONNECTED.value:
            if cache is not None:
                cache.evict(slot)
            raise ReauthRequired(reason=str(conn.get("last_error") or "needs_reauth"),
                                 consent_required=bool(conn.get("consent_required")))
        if cache is not None and not force_refresh:
            cached = cache.lookup(slot, generation=generation_of(conn), account_oid=str(conn.get("account_oid") or ""),
                                  account_tid=str(conn.get("account_tid") or ""), now=deps.clock.now())
            if cached is not None:
                return _bound(deps, cached, conn)
        row = store.get(rules.TOKEN_CACHES_TABLE, pk, k.value)
        if row is None or not row.get("cache"):
            failure = rules.RefreshFailure("needs_reauth", "tokens_missing: no stored sign-in for this connection")
        else:
            try:
                cache_text = deps.cipher.decrypt(row["cache"])
            except PermanentError:
                failure = rules.RefreshFailure(
                    "needs_reauth", "tokens_unreadable: the stored sign-in cannot be decrypted with the current keys")
            else:
                asked_at = deps.clock.now()
                result = deps.identity.acquire_token_silent(
                    cache_text, rules.scopes_for(k), str(conn.get("account_oid") or ""),
                    str(conn.get("account_tid") or ""), force_refresh=force_refresh)
                if result.access_token:
                    if result.cache is not None:
                        try:
                            store.update(rules.TOKEN_CACHES_TABLE, {
                                **{key: v for key, v in row.items() if not key.startswith("_")},
                                "cache": deps.cipher.encrypt(result.cache),
                                "updated_at": iso_utc(deps.clock.now()),
                            }, row.get("_etag"))
                        except (ConcurrencyConflict, NotFound):
                            log.info("token cache changed concurrently ws=%s user=%s kind=%s; reading again",
                                     workspace, user, k.value)
                            force_refresh = False  # the other writer has just refreshed
                            continue
                    _remember_token(deps, slot, conn, result, asked_at)
                    return _bound(deps, result.access_token, conn)
                failure = rules.classify_refresh_failure(
                    result.error, result.error_description, result.error_codes, no_account=result.no_account)
        if failure.outcome == "transient":
            log.warning("token refresh unavailable ws=%s user=%s kind=%s", workspace, user, k.value)
            raise TransientError(f"Microsoft could not renew the token: {failure.reason}", retry_after=30)
        if failure.outcome == "configuration":
            raise ConfigurationError(f"Microsoft refused the app's credentials: {failure.reason}")
        if cache is not None:
            cache.evict(slot)
        entity = rules.needs_reauth(conn, reason=failure.reason, consent_required=failure.consent_required,
                                    now=iso_utc(deps.clock.now()))
        try:
            store.update(rules.CONNECTIONS_TABLE, entity, conn.get("_etag"))
        except (ConcurrencyConflict, NotFound):
            continue  # the slot changed (reconnected?): decide again on what it is now
        log.warning("connection needs reauth ws=%s user=%s kind=%s reason=%s", workspace, user, k.value,
                    failure.reason)
        raise ReauthRequired(reason=failure.reason, consent_required=failure.consent_required)
    raise ConcurrencyConflict("the connection kept changing while its token was renewed", retry_after=1)
