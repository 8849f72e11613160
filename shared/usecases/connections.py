"""Microsoft connections: connect links, the OAuth callback, status, disconnect, tokens, admin consent.

Use cases take their dependencies as a ``deps`` object with the attributes they need:
``store`` (EntityStore), ``clock`` (Clock), ``cipher`` (encrypt/decrypt), ``signer`` (sign/verify),
``identity`` (``shared.adapters.microsoft_identity.MicrosoftIdentity`` or a fake), ``queue``
(MessageQueue) and ``public_base_url``. :class:`ConnectionDeps` is one; ``ConnectionDeps.from_container``
wraps the bootstrap container so each dependency is built only when a use case touches it.

Public API used by other features (meetings, availability, sweep):

* ``get_access_token(deps, workspace, user, kind) -> str``: refreshes silently; raises ``NotConnected``
  or ``ReauthRequired`` (the connection is then ``needs_reauth`` with the reason). With
  ``deps.access_token_cache`` (``shared.adapters.access_token_cache.AccessTokenCache``, one per process)
  a token still valid for the slot's current connection is reused without decrypting or asking MSAL.
* ``get_connection(store_or_deps, workspace, user, kind) -> dict | None``: the ``connections`` entity.
* ``mark_teams_unavailable(store_or_deps, workspace, user, reason)``.

Flow: a function-key caller creates a one-time connect link (signed token; storage keeps its SHA-256)
-> the browser opens it, we start MSAL's auth-code flow (PKCE) and keep the flow encrypted in
``authflows`` under the SHA-256 of its ``state`` (10 minutes, used once) -> Microsoft posts back to the
callback, which redeems the code, checks the account (rule 5), stores the encrypted token cache and
marks the slot ``connected`` (rule 6), recording ``teams`` transitions for the backfill sweep.
"""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Protocol

from shared.domain import connections as rules
from shared.domain.model import ConnectionKind, ConnectionStatus
from shared.errors import (
    AuthorizationFailed,
    ConcurrencyConflict,
    ConfigurationError,
    NotConnected,
    NotFound,
    PermanentError,
    ReauthRequired,
    TransientError,
    ValidationError,
)
from shared.ports import Clock, EntityExists, EntityStore, MessageQueue, SystemClock, iso_utc, parse_iso_utc

log = logging.getLogger("bookbridge.connections")

CONNECT_LINK_PURPOSE = "connect-link"
ADMIN_CONSENT_LINK_PURPOSE = "admin-consent-link"
CALLBACK_PATH = "/api/auth/microsoft/callback"
ADMIN_CONSENT_CALLBACK_PATH = "/api/auth/microsoft/admin-consent/callback"
CONNECT_PATH = "/api/connect/"
ADMIN_CONSENT_PATH = "/api/admin-consent/"
MAX_ATTEMPTS = 4
MAX_STATE_LENGTH = 512


# ----------------------------------------------------------------------------- dependencies
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
    public_base_url = property(lambda self: self._c.settings.get("PUBLIC_BASE_URL") or "http://127.0.0.1:7071")


@dataclass(frozen=True)
class BrowserResult:
    """How a browser-facing step ends: a redirect (to Microsoft or the return URL) or a result page."""

    ok: bool
    title: str
    message: str
    http_status: int = 200
    redirect_to: str | None = None
    reason: str | None = None
    kind: str | None = None


# ----------------------------------------------------------------------------- helpers
def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _store_of(store_or_deps: Any) -> EntityStore:
    return store_or_deps.store if hasattr(store_or_deps, "store") and not hasattr(store_or_deps, "get") else store_or_deps


def _base_url(deps: Any) -> str:
    return str(getattr(deps, "public_base_url", "") or "http://127.0.0.1:7071").rstrip("/")


def _kind(value: Any) -> ConnectionKind:
    kind = rules.parse_kind(value)
    if kind is None:
        allowed = ", ".join(k.value for k in ConnectionKind)
        raise ValidationError("kind", f"unknown connection kind; expected one of: {allowed}")
    return kind


def _ids(workspace: str, user: str | None = None) -> None:
    if not rules.check_id(workspace):
        raise ValidationError("workspace", "must be 1-64 letters, digits, '.', '_' or '-'")
    if user is not None and not rules.check_id(user):
        raise ValidationError("user", "must be 1-64 letters, digits, '.', '_' or '-'")


def _require_user(store: EntityStore, workspace: str, user: str) -> None:
    if store.get("users", workspace, user) is None:
        raise NotFound("user not found in this workspace")


def _require_workspace(store: EntityStore, workspace: str) -> None:
    if store.get("workspaces", workspace, "workspace") is None:
        raise NotFound("workspace not found")


def _expired(row: Mapping[str, Any], now: datetime) -> bool:
    try:
        return parse_iso_utc(str(row.get("expires_at") or "")) <= now
    except ValueError:
        return True


def _claim(store: EntityStore, table: str, row: Mapping[str, Any], now: str, **clear: Any) -> bool:
    """Mark a one-time row used; only one caller wins (ETag-conditional). False when someone else did."""
    update = {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], "used": True, "used_at": now, **clear}
    try:
        store.update(table, update, row.get("_etag"), merge=True)
    except (ConcurrencyConflict, NotFound):
        return False
    return True


def _page(ok: bool, title: str, message: str, status: int, *, reason: str | None = None,
          kind: str | None = None, return_url: str | None = None, extra: Mapping[str, str] | None = None
          ) -> BrowserResult:
    redirect = None
    if return_url and rules.return_url_problem(return_url) is None:
        params: dict[str, str] = {"status": "connected" if ok else "error"}
        if kind:
            params["kind"] = kind
        if reason and not ok:
            params["reason"] = reason
        params.update(extra or {})
        redirect = rules.with_query(return_url, params)
    return BrowserResult(ok, title, message, status, redirect, reason, kind)


_BAD_LINK = ("This link cannot be used", "This link is not valid, has expired or was already used. "
             "Ask for a new link and open it right away.")
_BAD_STATE = ("Sign-in could not be completed", "This sign-in response is not valid, has expired or was already "
              "used. Start the connection again from a new link.")


# ----------------------------------------------------------------------------- connect links
def create_connect_link(
    deps: Any, workspace: str, user: str, kind: Any, return_url: str | None = None
) -> dict[str, Any]:
    """A one-time, short-lived link the host opens in a browser: ``{"url", "expires_at", "kind"}``."""
    _ids(workspace, user)
    k = _kind(kind)
    if return_url is not None:
        problem = rules.return_url_problem(return_url)
        if problem:
            raise ValidationError("return_url", problem)
    _require_user(deps.store, workspace, user)
    now = deps.clock.now()
    expires = now + rules.CONNECT_LINK_TTL
    token = deps.signer.sign(CONNECT_LINK_PURPOSE, {"n": secrets.token_urlsafe(24), "x": int(expires.timestamp())})
    deps.store.insert(rules.CONNECT_LINKS_TABLE, {
        "PartitionKey": _sha256(token), "RowKey": rules.CONNECT_ROW, "ws": workspace, "user": user,
        "kind": k.value, "return_url": return_url or "", "expires_at": iso_utc(expires), "used": False,
        "created_at": iso_utc(now),
    })
    log.info("connect link created ws=%s user=%s kind=%s", workspace, user, k.value)
    return {"url": f"{_base_url(deps)}{CONNECT_PATH}{token}", "expires_at": iso_utc(expires), "kind": k.value}


def _read_link(deps: Any, purpose: str, row_key: str, token: str) -> tuple[dict[str, Any] | None, str]:
    """The stored row of a one-time link, or ``(None, reason)``."""
    payload = deps.signer.verify(purpose, token or "")
    if not payload:
        return None, "link_invalid"
    now = deps.clock.now()
    if not isinstance(payload.get("x"), int) or payload["x"] <= now.timestamp():
        return None, "link_expired"
    row = deps.store.get(rules.CONNECT_LINKS_TABLE, _sha256(token), row_key)
    if row is None:
        return None, "link_invalid"
    if row.get("used"):
        return None, "link_used"
    if _expired(row, now):
        return None, "link_expired"
    return row, ""


def open_connect_link(deps: Any, token: str) -> BrowserResult:
    """``GET /api/connect/{token}``: start MSAL's auth-code flow and send the browser to Microsoft."""
    row, reason = _read_link(deps, CONNECT_LINK_PURPOSE, rules.CONNECT_ROW, token)
    if row is None:
        log.info("connect link refused: %s", reason)
        return _page(False, *_BAD_LINK, 400, reason=reason)
    kind = _kind(row["kind"])
    now = deps.clock.now()
    state = secrets.token_urlsafe(32)
    flow = deps.identity.start_sign_in(rules.scopes_for(kind), f"{_base_url(deps)}{CALLBACK_PATH}", state)
    deps.store.insert(rules.AUTH_FLOWS_TABLE, {
        "PartitionKey": _sha256(state), "RowKey": rules.FLOW_ROW,
        "flow": deps.cipher.encrypt(json.dumps(flow, separators=(",", ":"), default=str)),
        "ws": row["ws"], "user": row["user"], "kind": kind.value, "return_url": row.get("return_url") or "",
        "expires_at": iso_utc(now + rules.AUTH_FLOW_TTL), "used": False, "created_at": iso_utc(now),
    })
    if not _claim(deps.store, rules.CONNECT_LINKS_TABLE, row, iso_utc(now)):
        log.info("connect link refused: link_used (concurrent)")
        return _page(False, *_BAD_LINK, 400, reason="link_used")
    log.info("sign-in started ws=%s user=%s kind=%s", row["ws"], row["user"], kind.value)
    return BrowserResult(True, "Redirecting to Microsoft", "Continue to Microsoft to sign in.", 302,
                         redirect_to=flow["auth_uri"], kind=kind.value)


# ----------------------------------------------------------------------------- the callback
def _read_flow(deps: Any, row_key: str, state: str) -> tuple[dict[str, Any] | None, str]:
    if not state or len(state) > MAX_STATE_LENGTH:
        return None, "state_missing"
    row = deps.store.get(rules.AUTH_FLOWS_TABLE, _sha256(state), row_key)
    if row is None:
        return None, "state_unknown"
    if row.get("used"):
        return None, "state_used"
    if _expired(row, deps.clock.now()):
        return None, "state_expired"
    return row, ""


def complete_sign_in(deps: Any, params: Mapping[str, str]) -> BrowserResult:
    """``/api/auth/microsoft/callback``: redeem the code, check the account, store tokens, mark connected.

    A missing, unknown, replayed or expired ``state`` is refused (400) and nothing is stored; so is a
    personal Microsoft account. Microsoft's own ``error`` ends in a result naming the reason (consent
    required offers the admin-consent path).
    """
    row, problem = _read_flow(deps, rules.FLOW_ROW, str(params.get("state") or ""))
    if row is None:
        log.warning("sign-in callback refused: %s", problem)
        return _page(False, *_BAD_STATE, 400, reason="invalid_state")
    now = deps.clock.now()
    if not _claim(deps.store, rules.AUTH_FLOWS_TABLE, row, iso_utc(now), flow=""):
        log.warning("sign-in callback refused: state_used (concurrent)")
        return _page(False, *_BAD_STATE, 400, reason="invalid_state")
    ws, user, kind, return_url = row["ws"], row["user"], _kind(row["kind"]), row.get("return_url") or None

    if params.get("error"):
        err = rules.classify_callback_error(str(params.get("error")), str(params.get("error_description") or ""))
        log.info("sign-in ended by Microsoft ws=%s user=%s kind=%s reason=%s", ws, user, kind.value, err.reason)
        extra = {"admin_consent": "required"} if err.admin_consent else None
        return _page(False, "Not connected", err.message, 400, reason=err.reason, kind=kind.value,
                     return_url=return_url, extra=extra)
    if not params.get("code"):
        return _page(False, "Not connected", "Microsoft returned no authorization code. Start the connection again.",
                     400, reason="sign_in_failed", kind=kind.value, return_url=return_url)
    try:
        flow = json.loads(deps.cipher.decrypt(row["flow"]))
        result = deps.identity.finish_sign_in(flow, {k: str(v) for k, v in params.items()})
    except TransientError:
        log.warning("sign-in could not be completed (transient) ws=%s user=%s kind=%s", ws, user, kind.value)
        return _page(False, "Microsoft is not answering", "Microsoft could not be reached to finish the sign-in. "
                     "Start the connection again in a moment.", 503, reason="temporarily_unavailable",
                     kind=kind.value, return_url=return_url)
    except (AuthorizationFailed, PermanentError) as exc:
        log.warning("sign-in refused ws=%s user=%s kind=%s code=%s", ws, user, kind.value, exc.code)
        return _page(False, "Not connected", "Microsoft could not complete the sign-in. Start the connection again.",
                     400, reason="sign_in_failed", kind=kind.value, return_url=return_url)

    check = rules.check_account(result.claims)
    if check.account is None:
        log.warning("sign-in refused ws=%s user=%s kind=%s reason=%s", ws, user, kind.value, check.refusal)
        return _page(False, "Work or school account required" if check.refusal == "personal_account"
                     else "Not connected", check.message, 400, reason=check.refusal, kind=kind.value,
                     return_url=return_url)

    scopes = [s for s in result.scopes if s.lower() not in {"openid", "profile", "offline_access", "email"}] or \
        rules.scopes_for(kind)
    outcome = _connect(deps, ws, user, kind, check.account, scopes, result.cache)
    log.info("connected ws=%s user=%s kind=%s generation=%s transition=%s replaced=%s", ws, user, kind.value,
             outcome.entity["connected_generation"], outcome.transitioned, outcome.replaced)
    label = "Microsoft Teams" if kind is ConnectionKind.TEAMS else "Microsoft calendar"
    return _page(True, "Connected", f"Your {label} connection is ready. You can close this page.", 200,
                 kind=kind.value, return_url=return_url)


def _connect(deps: Any, ws: str, user: str, kind: ConnectionKind, account: rules.MicrosoftAccount,
             scopes: list[str], cache_text: str) -> rules.ConnectOutcome:
    """Store the account's tokens and mark the slot connected (ETag-guarded, retried on a lost race)."""
    store = deps.store
    pk = rules.connection_pk(ws, user)
    now = iso_utc(deps.clock.now())
    # The new cache replaces whatever the slot held (a different account's tokens are gone with it).
    store.upsert(rules.TOKEN_CACHES_TABLE, {
        "PartitionKey": pk, "RowKey": kind.value, "cache": deps.cipher.encrypt(cache_text),
        "account_oid": account.oid, "account_tid": account.tid, "updated_at": now,
    })
    for _ in range(MAX_ATTEMPTS):
        previous = store.get(rules.CONNECTIONS_TABLE, pk, kind.value)
        outcome = rules.connect(previous, workspace=ws, user=user, kind=kind, account=account, scopes=scopes, now=now)
        if outcome.transitioned and kind is ConnectionKind.TEAMS:
            # recorded first: a spurious row (lost race) only makes the sweep look once more
            try:
                store.insert(rules.TRANSITIONS_TABLE, rules.transition_row(outcome.entity))
            except EntityExists:
                pass
        try:
            if previous is None:
                store.insert(rules.CONNECTIONS_TABLE, outcome.entity)
            else:
                store.update(rules.CONNECTIONS_TABLE, outcome.entity, previous.get("_etag"))
        except (EntityExists, ConcurrencyConflict, NotFound):
            continue
        break
    else:
        raise ConcurrencyConflict("the connection kept changing while it was being connected")
    _evict_token(deps, ws, user, kind)  # a new sign-in: the slot's tokens are new (the status check covers others)
    if outcome.transitioned and kind is ConnectionKind.TEAMS:
        _notify_backfill(deps, ws, user)
    return outcome


def _notify_backfill(deps: Any, ws: str, user: str) -> None:
    try:
        queue = deps.queue
        if queue is None:
            raise RuntimeError("no queue configured")
        queue.send(rules.BACKFILL_QUEUE, {"workspace": ws, "host": user, "reason": "reconnected"})
    except Exception as exc:  # noqa: BLE001 - the timer sweep is the guarantee
        log.warning("backfill message not sent ws=%s user=%s: %s", ws, user, type(exc).__name__)


# ----------------------------------------------------------------------------- status and disconnect
def get_connection(store_or_deps: Any, workspace: str, user: str, kind: Any) -> dict[str, Any] | None:
    """The ``connections`` entity of one slot (with ``_etag``), or ``None`` when never connected."""
    k = rules.parse_kind(kind)
    if k is None:
        return None
    return _store_of(store_or_deps).get(rules.CONNECTIONS_TABLE, rules.connection_pk(workspace, user), k.value)


def list_connections(deps: Any, workspace: str, user: str) -> dict[str, Any]:
    """Every kind's slot of a user: status, account, scopes, times, last error (one partition query)."""
    _ids(workspace, user)
    _require_user(deps.store, workspace, user)
    rows = {e["RowKey"]: e for e in deps.store.query(rules.CONNECTIONS_TABLE, rules.connection_pk(workspace, user))}
    return {"workspace": workspace, "user": user,
            "connections": [rules.connection_view(k, rows.get(k.value)) for k in ConnectionKind]}


def disconnect(deps: Any, workspace: str, user: str, kind: Any) -> dict[str, Any]:
    """Remove a connection: status ``disconnected`` with the time, tokens deleted. Idempotent."""
    _ids(workspace, user)
    k = _kind(kind)
    store = deps.store
    pk = rules.connection_pk(workspace, user)
    entity: dict[str, Any] | None = None
    for _ in range(MAX_ATTEMPTS):
        previous = store.get(rules.CONNECTIONS_TABLE, pk, k.value)
        if previous is None:
            raise NotFound("no connection of this kind")
        if previous.get("status") == ConnectionStatus.DISCONNECTED.value:
            entity = previous
            break
        entity = rules.disconnect(previous, now=iso_utc(deps.clock.now()))
        try:
            store.update(rules.CONNECTIONS_TABLE, entity, previous.get("_etag"))
        except (ConcurrencyConflict, NotFound):
            continue
        log.info("disconnected ws=%s user=%s kind=%s", workspace, user, k.value)
        break
    else:
        raise ConcurrencyConflict("the connection kept changing while it was being disconnected")
    # Status first (stops new use at once, on every instance: get_access_token reads it on each call), then
    # the tokens: a failure here leaves unused ciphertext that the next disconnect or connect removes.
    _evict_token(deps, workspace, user, k)
    store.delete(rules.TOKEN_CACHES_TABLE, pk, k.value)
    return rules.connection_view(k, entity)


def mark_teams_unavailable(store_or_deps: Any, workspace: str, user: str, reason: str, *,
                           clock: Clock | None = None) -> None:
    """Record on the ``teams`` slot that its account cannot create Teams meetings (rule 5)."""
    store = _store_of(store_or_deps)
    clock = clock or getattr(store_or_deps, "clock", None) or SystemClock()
    pk = rules.connection_pk(workspace, user)
    for _ in range(MAX_ATTEMPTS):
        current = store.get(rules.CONNECTIONS_TABLE, pk, ConnectionKind.TEAMS.value)
        if current is None:
            return
        now = iso_utc(clock.now())
        update = {"PartitionKey": pk, "RowKey": ConnectionKind.TEAMS.value, "teams_unavailable": True,
                  "teams_unavailable_at": now, "last_error": (reason or "teams_unavailable")[:1000], "updated_at": now}
        try:
            store.update(rules.CONNECTIONS_TABLE, update, current.get("_etag"), merge=True)
        except (ConcurrencyConflict, NotFound):
            continue
        log.info("teams unavailable recorded ws=%s user=%s", workspace, user)
        return
    raise ConcurrencyConflict("the connection kept changing")


# ----------------------------------------------------------------------------- tokens
def _token_cache(deps: Any) -> Any:
    return getattr(deps, "access_token_cache", None)


def _evict_token(deps: Any, workspace: str, user: str, kind: ConnectionKind) -> None:
    cache = _token_cache(deps)
    if cache is not None:
        cache.evict((workspace, user, kind.value))


def _generation(conn: Mapping[str, Any]) -> int:
    try:
        return int(conn.get("connected_generation") or 0)
    except (TypeError, ValueError):
        return -1


def _remember_token(deps: Any, key: tuple[str, str, str], conn: Mapping[str, Any], result: rules.TokenResult,
                    now: datetime) -> None:
    """Keep ``result``'s token for the connection identity of ``conn`` (only when its lifetime is known)."""
    cache = _token_cache(deps)
    if cache is None or not result.access_token or result.expires_in is None:
        return
    refresh_on = now + timedelta(seconds=result.refresh_in) if result.refresh_in is not None else None
    cache.remember(key, result.access_token, expires_at=now + timedelta(seconds=result.expires_in),
                   generation=_generation(conn), account_oid=str(conn.get("account_oid") or ""),
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
    k = _kind(kind)
    store = deps.store
    pk = rules.connection_pk(workspace, user)
    slot = (workspace, user, k.value)
    cache = _token_cache(deps)
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
            cached = cache.lookup(slot, generation=_generation(conn), account_oid=str(conn.get("account_oid") or ""),
                                  account_tid=str(conn.get("account_tid") or ""), now=deps.clock.now())
            if cached is not None:
                return cached
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
                    return result.access_token
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


# ----------------------------------------------------------------------------- admin consent
def create_admin_consent_link(deps: Any, workspace: str, tenant: str | None = None,
                              return_url: str | None = None) -> dict[str, Any]:
    """A one-time link for a tenant admin, redirecting to ``<authority host>/{tenant}/v2.0/adminconsent``."""
    _ids(workspace)
    tenant = (tenant or "organizations").strip()
    if not rules.check_tenant(tenant):
        raise ValidationError("tenant", "must be a tenant id (GUID), a verified domain or 'organizations'")
    if return_url is not None:
        problem = rules.return_url_problem(return_url)
        if problem:
            raise ValidationError("return_url", problem)
    _require_workspace(deps.store, workspace)
    now = deps.clock.now()
    expires = now + rules.ADMIN_CONSENT_LINK_TTL
    token = deps.signer.sign(ADMIN_CONSENT_LINK_PURPOSE, {"n": secrets.token_urlsafe(24), "x": int(expires.timestamp())})
    deps.store.insert(rules.CONNECT_LINKS_TABLE, {
        "PartitionKey": _sha256(token), "RowKey": rules.ADMIN_CONSENT_ROW, "ws": workspace, "tenant": tenant,
        "return_url": return_url or "", "expires_at": iso_utc(expires), "used": False, "created_at": iso_utc(now),
    })
    log.info("admin-consent link created ws=%s", workspace)
    return {"url": f"{_base_url(deps)}{ADMIN_CONSENT_PATH}{token}", "expires_at": iso_utc(expires), "tenant": tenant}


def open_admin_consent_link(deps: Any, token: str) -> BrowserResult:
    """``GET /api/admin-consent/{token}``: send the admin to Microsoft's admin-consent page."""
    row, reason = _read_link(deps, ADMIN_CONSENT_LINK_PURPOSE, rules.ADMIN_CONSENT_ROW, token)
    if row is None:
        log.info("admin-consent link refused: %s", reason)
        return _page(False, *_BAD_LINK, 400, reason=reason)
    now = deps.clock.now()
    state = secrets.token_urlsafe(32)
    url = deps.identity.admin_consent_url(row.get("tenant") or "organizations", rules.admin_consent_scopes(),
                                          f"{_base_url(deps)}{ADMIN_CONSENT_CALLBACK_PATH}", state)
    deps.store.insert(rules.AUTH_FLOWS_TABLE, {
        "PartitionKey": _sha256(state), "RowKey": rules.ADMIN_CONSENT_ROW, "ws": row["ws"],
        "tenant": row.get("tenant") or "organizations", "return_url": row.get("return_url") or "",
        "expires_at": iso_utc(now + rules.AUTH_FLOW_TTL), "used": False, "created_at": iso_utc(now),
    })
    if not _claim(deps.store, rules.CONNECT_LINKS_TABLE, row, iso_utc(now)):
        return _page(False, *_BAD_LINK, 400, reason="link_used")
    log.info("admin consent started ws=%s", row["ws"])
    return BrowserResult(True, "Redirecting to Microsoft", "Continue to Microsoft to grant consent.", 302,
                         redirect_to=url)


def complete_admin_consent(deps: Any, params: Mapping[str, str]) -> BrowserResult:
    """``/api/auth/microsoft/admin-consent/callback``: record the granted tenant (``error`` checked first)."""
    row, problem = _read_flow(deps, rules.ADMIN_CONSENT_ROW, str(params.get("state") or ""))
    if row is None:
        log.warning("admin-consent callback refused: %s", problem)
        return _page(False, *_BAD_STATE, 400, reason="invalid_state")
    now = iso_utc(deps.clock.now())
    if not _claim(deps.store, rules.AUTH_FLOWS_TABLE, row, now):
        return _page(False, *_BAD_STATE, 400, reason="invalid_state")
    ws, return_url = row["ws"], row.get("return_url") or None

    def refused(reason: str, message: str) -> BrowserResult:
        log.info("admin consent not granted ws=%s reason=%s", ws, reason)
        res = _page(False, "Consent not granted", message, 400, reason=reason, return_url=return_url)
        return res

    if params.get("error"):
        err = str(params.get("error"))
        codes = rules.aadsts_codes(str(params.get("error_description") or ""))
        if err == "access_denied" or set(codes) & rules.DECLINED_CODES:
            return refused("access_denied", "Consent was not granted: the administrator declined or cancelled.")
        return refused("admin_consent_failed", "Microsoft could not record the consent. Ask the administrator to "
                       "try again (they must be a Global, Application or Cloud Application Administrator).")
    tenant = str(params.get("tenant") or "").strip()
    if str(params.get("admin_consent") or "").lower() != "true" or not rules.GUID_PATTERN.match(tenant):
        return refused("admin_consent_failed", "Microsoft did not confirm the consent.")
    if tenant.lower() == rules.PERSONAL_ACCOUNT_TENANT_ID:
        return refused("personal_account", "Only Microsoft work or school organisations can grant consent.")
    deps.store.upsert(rules.ADMIN_CONSENTS_TABLE, {
        "PartitionKey": ws, "RowKey": tenant.lower(), "tenant": tenant.lower(), "granted_at": now,
        "scopes": " ".join(rules.admin_consent_scopes()),
    })
    log.info("admin consent granted ws=%s tenant=%s", ws, tenant.lower())
    res = _page(True, "Consent granted", "Your organisation approved bookbridge. Hosts can now connect their "
                "Microsoft accounts.", 200, return_url=return_url, extra={"tenant": tenant.lower()})
    if res.redirect_to:  # ``status=granted`` reads better than ``connected`` here
        res = BrowserResult(True, res.title, res.message, 200,
                            rules.with_query(res.redirect_to, {"status": "granted"}), None, None)
    return res
