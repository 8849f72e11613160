"""Admin consent: a one-time link for a tenant admin and the callback recording the granted tenant."""
from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any

from shared.domain import connections as rules
from shared.domain.model import PERSONAL_ACCOUNT_TENANT_ID
from shared.errors import (
    ValidationError,
)
from shared.ports import iso_utc
from shared.usecases.connections.browser import OTHER_BROWSER, browser_hash, other_browser
from shared.usecases.connections.deps import (
    ADMIN_CONSENT_CALLBACK_PATH,
    ADMIN_CONSENT_LINK_PURPOSE,
    ADMIN_CONSENT_PATH,
    Deps,
    base_url,
    check_ids,
    claim_once,
    require_workspace,
    sha256_hex,
)
from shared.usecases.connections.links import BAD_LINK, BAD_STATE, BrowserResult, page, read_link
from shared.usecases.connections.sign_in import read_flow

log = logging.getLogger("bookbridge.connections")


def create_admin_consent_link(deps: Deps, workspace: str, tenant: str | None = None,
                              return_url: str | None = None) -> dict[str, Any]:
    """A one-time link for a tenant admin, redirecting to ``<authority host>/{tenant}/v2.0/adminconsent``."""
    check_ids(workspace)
    tenant = (tenant or "organizations").strip()
    if not rules.check_tenant(tenant):
        raise ValidationError("tenant", "must be a tenant id (GUID), a verified domain or 'organizations'")
    if return_url is not None:
        problem = rules.return_url_problem(return_url)
        if problem:
            raise ValidationError("return_url", problem)
    require_workspace(deps.store, workspace)
    now = deps.clock.now()
    expires = now + rules.ADMIN_CONSENT_LINK_TTL
    token = deps.signer.sign(ADMIN_CONSENT_LINK_PURPOSE,
                             {"n": secrets.token_urlsafe(24), "x": int(expires.timestamp())})
    deps.store.insert(rules.CONNECT_LINKS_TABLE, {
        "PartitionKey": sha256_hex(token), "RowKey": rules.ADMIN_CONSENT_ROW, "ws": workspace, "tenant": tenant,
        "return_url": return_url or "", "expires_at": iso_utc(expires), "used": False, "created_at": iso_utc(now),
    })
    log.info("admin-consent link created ws=%s", workspace)
    return {"url": f"{base_url(deps)}{ADMIN_CONSENT_PATH}{token}", "expires_at": iso_utc(expires), "tenant": tenant}


def open_admin_consent_link(deps: Deps, token: str, browser: str | None = None) -> BrowserResult:
    """``POST /api/admin-consent/{token}``: send the admin (bound to ``browser``) to Microsoft's page."""
    row, reason = read_link(deps, ADMIN_CONSENT_LINK_PURPOSE, rules.ADMIN_CONSENT_ROW, token)
    if row is None:
        log.info("admin-consent link refused: %s", reason)
        return page(False, *BAD_LINK, 400, reason=reason)
    now = deps.clock.now()
    state = secrets.token_urlsafe(32)
    url = deps.identity.admin_consent_url(row.get("tenant") or "organizations", rules.admin_consent_scopes(),
                                          f"{base_url(deps)}{ADMIN_CONSENT_CALLBACK_PATH}", state)
    deps.store.insert(rules.AUTH_FLOWS_TABLE, {
        "PartitionKey": sha256_hex(state), "RowKey": rules.ADMIN_CONSENT_ROW, "ws": row["ws"],
        "tenant": row.get("tenant") or "organizations", "return_url": row.get("return_url") or "",
        "expires_at": iso_utc(now + rules.AUTH_FLOW_TTL), "used": False, "created_at": iso_utc(now),
        "browser": browser_hash(browser),
    })
    if not claim_once(deps.store, rules.CONNECT_LINKS_TABLE, row, iso_utc(now)):
        return page(False, *BAD_LINK, 400, reason="link_used")
    log.info("admin consent started ws=%s", row["ws"])
    return BrowserResult(True, "Redirecting to Microsoft", "Continue to Microsoft to grant consent.", 302,
                         redirect_to=url)


def complete_admin_consent(deps: Deps, params: Mapping[str, str], browser: str | None = None) -> BrowserResult:
    """``/api/auth/microsoft/admin-consent/callback``: record the granted tenant (``error`` checked first).

    Only a tenant the flow expected is recorded: the link named that tenant id and Microsoft's answer
    names the same one. The query's ``tenant`` alone proves nothing (anyone can write it), so a link made
    for ``organizations`` or a domain records nothing and the page says how to get a link that can.
    """
    row, problem = read_flow(deps, rules.ADMIN_CONSENT_ROW, str(params.get("state") or ""))
    if row is None:
        log.warning("admin-consent callback refused: %s", problem)
        return page(False, *BAD_STATE, 400, reason="invalid_state")
    now = iso_utc(deps.clock.now())
    if not claim_once(deps.store, rules.AUTH_FLOWS_TABLE, row, now):
        return page(False, *BAD_STATE, 400, reason="invalid_state")
    ws, return_url = row["ws"], row.get("return_url") or None
    if other_browser(row, browser):
        log.warning("admin-consent callback refused: finished in another browser")
        return page(False, *OTHER_BROWSER, 400, reason="other_browser")

    problem_found = consent_problem(params, str(row.get("tenant") or "").lower())
    if problem_found is not None:
        reason, message = problem_found
        log.info("admin consent not granted ws=%s reason=%s", ws, reason)
        return page(False, "Consent not granted", message, 400, reason=reason, return_url=return_url)
    tenant = str(params.get("tenant") or "").strip().lower()
    deps.store.upsert(rules.ADMIN_CONSENTS_TABLE, {
        "PartitionKey": ws, "RowKey": tenant, "tenant": tenant, "granted_at": now,
        "scopes": " ".join(rules.admin_consent_scopes()),
    })
    log.info("admin consent granted ws=%s tenant=%s", ws, tenant)
    res = page(True, "Consent granted", "Your organisation approved bookbridge. Hosts can now connect their "
                "Microsoft accounts.", 200, return_url=return_url, extra={"tenant": tenant})
    if res.redirect_to:  # ``status=granted`` reads better than ``connected`` here
        res = BrowserResult(True, res.title, res.message, 200,
                            rules.with_query(res.redirect_to, {"status": "granted"}), None, None)
    return res


def consent_problem(params: Mapping[str, str], expected: str) -> tuple[str, str] | None:
    """Why Microsoft's admin-consent answer cannot be recorded for the tenant the link expected, as
    ``(reason, message for the administrator)``; ``None`` when it can."""
    if params.get("error"):
        codes = rules.aadsts_codes(str(params.get("error_description") or ""))
        if str(params.get("error")) == "access_denied" or set(codes) & rules.DECLINED_CODES:
            return "access_denied", "Consent was not granted: the administrator declined or cancelled."
        return "admin_consent_failed", ("Microsoft could not record the consent. Ask the administrator to try "
                                        "again (they must be a Global, Application or Cloud Application "
                                        "Administrator).")
    tenant = str(params.get("tenant") or "").strip().lower()
    if str(params.get("admin_consent") or "").lower() != "true" or not rules.GUID_PATTERN.match(tenant):
        return "admin_consent_failed", "Microsoft did not confirm the consent."
    if tenant == PERSONAL_ACCOUNT_TENANT_ID:
        return "personal_account", "Only Microsoft work or school organisations can grant consent."
    if not rules.GUID_PATTERN.match(expected):
        return "tenant_unverified", ("Microsoft reported a consent, but bookbridge cannot verify which organisation "
                                     "gave it, so nothing was recorded. Ask for an admin-consent link made for your "
                                     "tenant id (a GUID) and use it again.")
    if tenant != expected:
        return "tenant_mismatch", ("The consent was given for another organisation than this link was made for, "
                                   "so nothing was recorded.")
    return None
