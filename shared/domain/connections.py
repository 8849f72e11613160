"""Microsoft connections: the pure rules (rules 5 and 6, the status transitions, refresh failures).

No I/O and no SDK imports (what Microsoft's sign-in errors mean is ``shared.domain.microsoft_errors``,
re-exported here). The use cases in ``shared.usecases.connections`` read and write the
entities; this module decides what they become.

A connection entity (table ``connections``, PK ``{ws}|{user}``, RK ``{kind}``) holds: ``status``,
``account_oid``, ``account_tid``, ``upn``, ``display_name``, ``scopes`` (space separated),
``connected_at``, ``disconnected_at``, ``needs_reauth_at``, ``last_error``, ``consent_required``,
``teams_unavailable``, ``history_json``, ``connected_generation`` (+1 on every transition to
``connected``), plus ``workspace``, ``user``, ``kind``, ``updated_at``.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from shared.domain import linked_calendar
from shared.domain.microsoft_errors import CLIENT_CONFIG_CODES as CLIENT_CONFIG_CODES
from shared.domain.microsoft_errors import CONSENT_CODES as CONSENT_CODES
from shared.domain.microsoft_errors import DECLINED_CODES as DECLINED_CODES
from shared.domain.microsoft_errors import REAUTH_CODES as REAUTH_CODES
from shared.domain.microsoft_errors import CallbackError as CallbackError
from shared.domain.microsoft_errors import RefreshFailure as RefreshFailure
from shared.domain.microsoft_errors import aadsts_codes as aadsts_codes
from shared.domain.microsoft_errors import classify_callback_error as classify_callback_error
from shared.domain.microsoft_errors import classify_refresh_failure as classify_refresh_failure
from shared.domain.model import PERSONAL_ACCOUNT_TENANT_ID, SCOPES, ConnectionKind, ConnectionStatus

# ----------------------------------------------------------------------------- tables and limits
CONNECTIONS_TABLE = "connections"
TOKEN_CACHES_TABLE = "tokencaches"
AUTH_FLOWS_TABLE = "authflows"
CONNECT_LINKS_TABLE = "connectlinks"
TRANSITIONS_TABLE = "connectiontransitions"
ADMIN_CONSENTS_TABLE = "adminconsents"
BACKFILL_QUEUE = "backfill"

#: RowKeys of the one-time rows (``connectlinks`` and ``authflows`` are keyed by a hash of the secret).
CONNECT_ROW = "link"
FLOW_ROW = "flow"
ADMIN_CONSENT_ROW = "admin_consent"

CONNECT_LINK_TTL = timedelta(minutes=15)
"""How long a connect link handed to a host stays usable (it is also used once only)."""
ADMIN_CONSENT_LINK_TTL = timedelta(hours=24)
"""How long an admin-consent link stays usable (it is forwarded to a tenant admin; used once only)."""
AUTH_FLOW_TTL = timedelta(minutes=10)
"""How long a sign-in at Microsoft may take between the redirect and the callback."""

HISTORY_LIMIT = 100
"""Most recent history events kept on a connection entity."""

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""Workspace and user ids (safe in PartitionKeys, which join them with ``|``)."""
GUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TENANT_DOMAIN_PATTERN = re.compile(r"^(?=.{3,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z]{2,63}$")
MAX_RETURN_URL = 2048

PERSONAL_IDP_MARKERS = ("live.com",)
"""Identity providers of personal Microsoft accounts (a guest whose idp is live.com is personal too)."""

# ----------------------------------------------------------------------------- value types
@dataclass(frozen=True)
class MicrosoftAccount:
    """The Microsoft account a sign-in produced (from its id token claims)."""

    oid: str
    tid: str
    upn: str = ""
    display_name: str = ""


@dataclass(frozen=True)
class SignInResult:
    """What the identity adapter returns after redeeming an authorization code."""

    claims: dict[str, Any]
    cache: str
    """The serialized MSAL token cache holding this sign-in's tokens (plain text: encrypt it)."""
    scopes: tuple[str, ...] = ()
    access_token: str = ""
    """The sign-in's access token (used once, to read the mailbox address; never stored in clear)."""


@dataclass(frozen=True)
class TokenResult:
    """What the identity adapter returns for a silent token request."""

    access_token: str | None = None
    cache: str | None = None
    """The serialized cache when MSAL changed it (a refresh happened); ``None`` when unchanged."""
    error: str | None = None
    error_description: str = ""
    error_codes: tuple[int, ...] = ()
    no_account: bool = False
    """True when the cache held no usable account or refresh token (nothing was sent to Microsoft)."""
    expires_in: int | None = None
    """Seconds the access token is still valid for (MSAL's ``expires_in``), when known."""
    refresh_in: int | None = None
    """Seconds until Microsoft wants the token refreshed early (from MSAL's ``refresh_on``), when given."""


@dataclass(frozen=True)
class AccountCheck:
    """The result of checking a sign-in's id token claims (rule 5)."""

    account: MicrosoftAccount | None
    refusal: str | None = None
    """``personal_account`` or ``account_incomplete`` when refused."""
    message: str = ""


@dataclass
class ConnectOutcome:
    """What connecting an account does to a slot."""

    entity: dict[str, Any]
    transitioned: bool
    """True when the slot became ``connected`` (new, after disconnected/needs_reauth, or replaced)."""
    replaced: bool
    """True when a different Microsoft account took the slot."""
    history: list[dict[str, Any]] = field(default_factory=list)


# ----------------------------------------------------------------------------- ids and kinds
def connection_pk(workspace: str, user: str) -> str:
    """PartitionKey of a user's connections and token caches."""
    return f"{workspace}|{user}"


def check_id(value: str) -> bool:
    """True for a workspace or user id we accept in paths."""
    return bool(value) and bool(ID_PATTERN.match(value))


def parse_kind(value: Any) -> ConnectionKind | None:
    """The connection kind named by ``value``, or ``None``."""
    if isinstance(value, ConnectionKind):
        return value
    try:
        return ConnectionKind(str(value))
    except ValueError:
        return None


def scopes_for(kind: ConnectionKind) -> list[str]:
    """The Graph scopes asked for a kind (MSAL adds ``openid profile offline_access``)."""
    return list(SCOPES[kind])


def missing_scopes(kind: ConnectionKind, granted: Any) -> list[str]:
    """The scopes ``kind`` needs that Microsoft did not grant (names compared without case or resource prefix).

    The token response's ``scope`` lists what was actually consented; a tenant may grant less than asked.
    """
    have = {str(s).rsplit("/", 1)[-1].casefold() for s in (granted or ())}
    return [s for s in SCOPES[kind] if s.casefold() not in have]


def consent_missing_message(missing: list[str]) -> str:
    """What the host reads when Microsoft granted fewer permissions than the kind needs."""
    return ("Microsoft did not grant every permission bookbridge needs (" + ", ".join(missing) + "). Your "
            "organisation may require an administrator to approve them: ask your Microsoft 365 administrator to "
            "grant consent (your workspace administrator can create an admin-consent link for them), then connect "
            "again.")


def admin_consent_scopes(graph_resource: str = "https://graph.microsoft.com") -> list[str]:
    """Every scope bookbridge may ask for, as full Graph scope URIs, for the admin-consent request."""
    names: list[str] = []
    for kind in (k for k in ConnectionKind if k.is_microsoft):
        for scope in SCOPES[kind]:
            if scope not in names:
                names.append(scope)
    return [f"{graph_resource}/{name}" for name in names] + ["offline_access", "openid", "profile"]


def check_tenant(value: str) -> bool:
    """A tenant for the admin-consent URL: ``organizations``, a GUID or a verified domain name."""
    if value == "organizations":
        return True
    if value.lower() in {"common", "consumers"} or value.lower() == PERSONAL_ACCOUNT_TENANT_ID:
        return False
    return bool(GUID_PATTERN.match(value) or TENANT_DOMAIN_PATTERN.match(value))


# ----------------------------------------------------------------------------- return URLs
def return_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a return URL (absolute http(s), a host, no credentials), or ``None``."""
    if not isinstance(url, str) or not url:
        return "must be an absolute http or https URL"
    if len(url) > MAX_RETURN_URL:
        return f"must be at most {MAX_RETURN_URL} characters"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a bad port
    except ValueError:
        return "must be an absolute http or https URL"
    del port
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "must be an absolute http or https URL"
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials"
    return None


def with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` added to its query string (replacing parameters of the same name)."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query = urlencode(kept + [(k, v) for k, v in params.items() if v is not None])
    return urlunsplit(parts._replace(query=query))


# ----------------------------------------------------------------------------- rule 5: accounts
def check_account(claims: Mapping[str, Any]) -> AccountCheck:
    """Only work or school accounts may connect; personal accounts (and guests from live.com) are refused."""
    tid = str(claims.get("tid") or "").strip()
    oid = str(claims.get("oid") or "").strip()
    idp = str(claims.get("idp") or "").strip().lower()
    if tid.lower() == PERSONAL_ACCOUNT_TENANT_ID or any(marker in idp for marker in PERSONAL_IDP_MARKERS):
        return AccountCheck(
            None,
            "personal_account",
            "Only Microsoft work or school accounts can connect. You signed in with a personal Microsoft "
            "account (such as outlook.com or hotmail.com); sign in with the account your organisation gave you.",
        )
    if not tid or not oid:
        return AccountCheck(
            None, "account_incomplete", "Microsoft did not identify the account (no object or tenant id)."
        )
    upn = str(claims.get("upn") or claims.get("preferred_username") or claims.get("email") or "")
    name = str(claims.get("name") or "")
    return AccountCheck(MicrosoftAccount(oid=oid, tid=tid, upn=upn[:256], display_name=name[:256]))


# ----------------------------------------------------------------------------- transitions
def load_history(entity: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The history events of a connection entity (oldest first)."""
    if not entity:
        return []
    try:
        events = json.loads(entity.get("history_json") or "[]")
    except (TypeError, ValueError):
        return []
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []


def _dump_history(events: list[dict[str, Any]]) -> str:
    return json.dumps(events[-HISTORY_LIMIT:], separators=(",", ":"), sort_keys=True)


def _base(previous: Mapping[str, Any] | None, workspace: str, user: str, kind: ConnectionKind) -> dict[str, Any]:
    base = {k: v for k, v in (previous or {}).items() if not k.startswith("_")}
    base.update(PartitionKey=connection_pk(workspace, user), RowKey=kind.value, workspace=workspace, user=user,
                kind=kind.value)
    return base


def connect(
    previous: Mapping[str, Any] | None,
    *,
    workspace: str,
    user: str,
    kind: ConnectionKind,
    account: MicrosoftAccount,
    scopes: list[str] | tuple[str, ...],
    now: str,
) -> ConnectOutcome:
    """The slot after ``account`` signed in (rule 6: a different account replaces the previous one).

    A transition (new slot, a slot that was ``disconnected``/``needs_reauth``, or a different account)
    bumps ``connected_generation`` and sets ``connected_at``; the same account signing in again while
    connected only refreshes the account details and scopes and clears the errors.
    """
    prior: Mapping[str, Any] = previous or {}
    prev_status = prior.get("status")
    same_account = bool(prior) and prior.get("account_oid") == account.oid and prior.get("account_tid") == account.tid
    replaced = (
        bool(prior.get("account_oid")) and not same_account and prev_status != ConnectionStatus.DISCONNECTED.value
    )
    transitioned = previous is None or prev_status != ConnectionStatus.CONNECTED.value or not same_account
    entity = _base(previous, workspace, user, kind)
    if not same_account:
        linked_calendar.forget(entity)  # another mailbox: the calendar chosen in the previous one is not there
    history = load_history(previous)
    generation = int((previous or {}).get("connected_generation") or 0)
    if transitioned:
        generation += 1
        entity["connected_at"] = now
        event: dict[str, Any] = {"event": "replaced" if replaced else "connected", "at": now, "generation": generation,
                 "account_oid": account.oid, "account_tid": account.tid}
        if replaced:
            event["previous_account_oid"] = prior.get("account_oid")
            event["previous_account_tid"] = prior.get("account_tid")
        history.append(event)
    entity.update(
        status=ConnectionStatus.CONNECTED.value,
        account_oid=account.oid,
        account_tid=account.tid,
        upn=account.upn,
        display_name=account.display_name,
        scopes=" ".join(scopes),
        last_error="",
        consent_required=False,
        teams_unavailable=False,
        connected_generation=generation,
        history_json=_dump_history(history),
        updated_at=now,
    )
    return ConnectOutcome(entity, transitioned, replaced, history)


def disconnect(previous: Mapping[str, Any], *, now: str) -> dict[str, Any]:
    """The slot after the user removed the connection (tokens are deleted by the caller)."""
    entity = {k: v for k, v in previous.items() if not k.startswith("_")}
    history = load_history(previous)
    history.append({"event": "disconnected", "at": now, "generation": int(previous.get("connected_generation") or 0)})
    entity.update(status=ConnectionStatus.DISCONNECTED.value, disconnected_at=now, updated_at=now,
                  history_json=_dump_history(history))
    return entity


def needs_reauth(previous: Mapping[str, Any], *, reason: str, consent_required: bool, now: str) -> dict[str, Any]:
    """The slot after a refresh failed for a reason only a new sign-in fixes."""
    entity = {k: v for k, v in previous.items() if not k.startswith("_")}
    history = load_history(previous)
    history.append({"event": "needs_reauth", "at": now, "reason": reason[:300],
                    "generation": int(previous.get("connected_generation") or 0)})
    entity.update(status=ConnectionStatus.NEEDS_REAUTH.value, needs_reauth_at=now, last_error=reason[:1000],
                  consent_required=bool(consent_required), updated_at=now, history_json=_dump_history(history))
    return entity


def transition_row(entity: Mapping[str, Any]) -> dict[str, Any]:
    """The ``connectiontransitions`` row of a ``teams`` slot's transition to ``connected``."""
    ws, user, gen = entity["workspace"], entity["user"], int(entity["connected_generation"])
    return {
        "PartitionKey": ConnectionKind.TEAMS.value,
        "RowKey": f"{entity['connected_at']}|{ws}|{user}|{gen}",
        "ws": ws,
        "user": user,
        "generation": gen,
        "account_oid": entity["account_oid"],
        "account_tid": entity["account_tid"],
        "connected_at": entity["connected_at"],
    }


def _problems(kind: ConnectionKind, entity: Mapping[str, Any]) -> list[str]:
    """What stands in the way of this slot's use that a person can fix (rule 26)."""
    problem = linked_calendar.teams_problem(entity) if kind is ConnectionKind.MICROSOFT_CALENDAR else None
    return [problem] if problem else []


def connection_view(kind: ConnectionKind, entity: Mapping[str, Any] | None) -> dict[str, Any]:
    """The public JSON view of one slot (a slot never connected shows ``disconnected`` and no account)."""
    e = entity or {}
    account = None
    if e.get("account_oid"):
        account = {
            "id": e.get("account_oid"),
            "tenant_id": e.get("account_tid"),
            "upn": e.get("upn") or None,
            "display_name": e.get("display_name") or None,
        }
    return {
        "kind": kind.value,
        "status": e.get("status") or ConnectionStatus.DISCONNECTED.value,
        "account": account,
        "scopes": [s for s in str(e.get("scopes") or "").split() if s],
        "connected_at": e.get("connected_at"),
        "disconnected_at": e.get("disconnected_at"),
        "needs_reauth_at": e.get("needs_reauth_at"),
        "last_error": e.get("last_error") or None,
        "consent_required": bool(e.get("consent_required")),
        "teams_unavailable": bool(e.get("teams_unavailable")),
        "generation": int(e.get("connected_generation") or 0),
        "linked_calendar": linked_calendar.view_of(e) if kind is ConnectionKind.MICROSOFT_CALENDAR else None,
        "problems": _problems(kind, e),
    }
