"""One-time connect links (a signed token; storage keeps its SHA-256), and how a browser step ends."""
from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain import connections as rules
from shared.domain import google
from shared.domain.model import ConnectionKind
from shared.errors import (
    ValidationError,
)
from shared.ports import iso_utc
from shared.usecases.connections.browser import browser_hash
from shared.usecases.connections.deps import (
    ADMIN_CONSENT_LINK_PURPOSE,
    CALLBACK_PATH,
    CONNECT_LINK_PURPOSE,
    CONNECT_PATH,
    GOOGLE_CALLBACK_PATH,
    Deps,
    base_url,
    check_ids,
    claim_once,
    expired,
    identity_for,
    kind_of,
    provider_of,
    require_user,
    sha256_hex,
)

log = logging.getLogger("bookbridge.connections")


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


def page(ok: bool, title: str, message: str, status: int, *, reason: str | None = None,
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


BAD_LINK = ("This link cannot be used", "This link is not valid, has expired or was already used. Connect "
            "links work once and expire 15 minutes after they are made: ask whoever sent it (the product you "
            "connect from, or your bookbridge administrator) for a new link and open it right away.")


BAD_STATE = ("Sign-in could not be completed", "This sign-in response is not valid, has expired or was already "
              "used. Start the connection again from a new link.")


def create_connect_link(
    deps: Deps, workspace: str, user: str, kind: Any, return_url: str | None = None
) -> dict[str, Any]:
    """A one-time, short-lived link the host opens in a browser: ``{"url", "expires_at", "kind"}``."""
    check_ids(workspace, user)
    k = kind_of(kind)
    if return_url is not None:
        problem = rules.return_url_problem(return_url)
        if problem:
            raise ValidationError("return_url", problem)
    require_user(deps.store, workspace, user)
    now = deps.clock.now()
    expires = now + rules.CONNECT_LINK_TTL
    token = deps.signer.sign(CONNECT_LINK_PURPOSE, {"n": secrets.token_urlsafe(24), "x": int(expires.timestamp())})
    deps.store.insert(rules.CONNECT_LINKS_TABLE, {
        "PartitionKey": sha256_hex(token), "RowKey": rules.CONNECT_ROW, "ws": workspace, "user": user,
        "kind": k.value, "return_url": return_url or "", "expires_at": iso_utc(expires), "used": False,
        "created_at": iso_utc(now),
    })
    log.info("connect link created ws=%s user=%s kind=%s", workspace, user, k.value)
    return {"url": f"{base_url(deps)}{CONNECT_PATH}{token}", "expires_at": iso_utc(expires), "kind": k.value}


def read_link(deps: Deps, purpose: str, row_key: str, token: str) -> tuple[dict[str, Any] | None, str]:
    """The stored row of a one-time link, or ``(None, reason)``."""
    payload = deps.signer.verify(purpose, token or "")
    if not payload:
        return None, "link_invalid"
    now = deps.clock.now()
    if not isinstance(payload.get("x"), int) or payload["x"] <= now.timestamp():
        return None, "link_expired"
    row = deps.store.get(rules.CONNECT_LINKS_TABLE, sha256_hex(token), row_key)
    if row is None:
        return None, "link_invalid"
    if row.get("used"):
        return None, "link_used"
    if expired(row, now):
        return None, "link_expired"
    return row, ""


def preview_link(deps: Deps, token: str, *, admin: bool = False) -> BrowserResult:
    """``GET`` of a connect or admin-consent link: checked, never used up (the page's button POSTs)."""
    purpose, row_key = ((ADMIN_CONSENT_LINK_PURPOSE, rules.ADMIN_CONSENT_ROW) if admin
                        else (CONNECT_LINK_PURPOSE, rules.CONNECT_ROW))
    row, reason = read_link(deps, purpose, row_key, token)
    if row is None:
        log.info("link refused on opening: %s", reason)
        return page(False, *BAD_LINK, 400, reason=reason)
    if admin:
        return BrowserResult(True, "Approve bookbridge for your organisation", "Continue to Microsoft to review "
                             "and grant the permissions bookbridge needs. You must be a tenant administrator.", 200)
    kind = kind_of(row["kind"])
    if kind is ConnectionKind.GOOGLE_CALENDAR:
        return BrowserResult(True, "Connect your Google Calendar", "Continue to Google to sign in with the account "
                             "whose calendar bookbridge should use. Finish in this browser.", 200, kind=kind.value)
    label = "Microsoft Teams" if kind is ConnectionKind.TEAMS else "Microsoft calendar"
    return BrowserResult(True, f"Connect your {label}", f"Continue to Microsoft to sign in with the work or school "
                         f"account whose {label} bookbridge should use. Finish in this browser.", 200,
                         kind=kind.value)


def open_connect_link(deps: Deps, token: str, browser: str | None = None) -> BrowserResult:
    """``POST /api/connect/{token}``: start MSAL's auth-code flow (bound to ``browser``) and go to Microsoft."""
    row, reason = read_link(deps, CONNECT_LINK_PURPOSE, rules.CONNECT_ROW, token)
    if row is None:
        log.info("connect link refused: %s", reason)
        return page(False, *BAD_LINK, 400, reason=reason)
    kind = kind_of(row["kind"])
    now = deps.clock.now()
    state = secrets.token_urlsafe(32)
    if kind.is_microsoft:
        flow = deps.identity.start_sign_in(rules.scopes_for(kind), f"{base_url(deps)}{CALLBACK_PATH}", state)
    else:
        flow = identity_for(deps, kind).start_sign_in(google.scopes(), f"{base_url(deps)}{GOOGLE_CALLBACK_PATH}",
                                                      state)
    deps.store.insert(rules.AUTH_FLOWS_TABLE, {
        "PartitionKey": sha256_hex(state), "RowKey": rules.FLOW_ROW,
        "flow": deps.cipher.encrypt(json.dumps(flow, separators=(",", ":"), default=str)),
        "ws": row["ws"], "user": row["user"], "kind": kind.value, "return_url": row.get("return_url") or "",
        "expires_at": iso_utc(now + rules.AUTH_FLOW_TTL), "used": False, "created_at": iso_utc(now),
        "browser": browser_hash(browser),
    })
    if not claim_once(deps.store, rules.CONNECT_LINKS_TABLE, row, iso_utc(now)):
        log.info("connect link refused: link_used (concurrent)")
        return page(False, *BAD_LINK, 400, reason="link_used")
    log.info("sign-in started ws=%s user=%s kind=%s", row["ws"], row["user"], kind.value)
    provider = provider_of(kind)
    return BrowserResult(True, f"Redirecting to {provider}", f"Continue to {provider} to sign in.", 302,
                         redirect_to=flow["auth_uri"], kind=kind.value)
