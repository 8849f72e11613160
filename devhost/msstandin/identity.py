"""Microsoft identity platform (v2.0) endpoints: discovery, keys, authorize, token, admin consent."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from . import pages
from .context import Context
from .idtokens import id_token_claims
from .state import PERSONAL_TENANT_ID, Account, AuthCode, b64url_json
from .web import Request, Response, Router, html_response, json_response, redirect, with_query

TENANT = r"/(?P<tenant>[A-Za-z0-9._-]+)"
RESERVED_SCOPES = ("openid", "profile", "offline_access", "email")
GRAPH_PREFIX = "https://graph.microsoft.com/"
_GUID = re.compile(r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$", re.IGNORECASE)

# refresh failure reasons (``/_sandbox/accounts/{upn}/revoke``) -> (error, AADSTS code, description, suberror)
REVOKE_REASONS: dict[str, tuple[str, int, str, str | None]] = {
    "revoked": ("invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth "
                "token is needed. The user might have changed or reset their password.", "bad_token"),
    "expired": ("invalid_grant", 700082, "The refresh token has expired due to inactivity. The token was "
                "issued on a date long ago and was inactive for 90.00:00:00.", "bad_token"),
    "inactive": ("invalid_grant", 70008, "The provided authorization code or refresh token has expired due "
                 "to inactivity. Send a new interactive authorization request for this user and resource.", None),
    "consent": ("invalid_grant", 65001, "The user or administrator has not consented to use the application. "
                "Send an interactive authorization request for this user and resource.", "consent_required"),
}


def register(router: Router) -> None:
    """Add the identity routes."""
    router.add("GET", TENANT + r"/v2\.0/\.well-known/openid-configuration", openid_configuration)
    router.add("GET", TENANT + r"/discovery/v2\.0/keys", keys)
    router.add("GET POST", TENANT + r"/oauth2/v2\.0/authorize", authorize)
    router.add("POST", TENANT + r"/oauth2/v2\.0/token", token)
    router.add("GET", TENANT + r"/v2\.0/adminconsent", admin_consent)
    router.add("GET", TENANT + r"/oauth2/v2\.0/logout", logout)


def aad_error(status: int, error: str, code: int, description: str, suberror: str | None = None) -> Response:
    """An Entra token-endpoint error body."""
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    body: dict[str, Any] = {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {corr} "
                             f"Timestamp: {stamp}",
        "error_codes": [code], "timestamp": stamp, "trace_id": trace, "correlation_id": corr,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    if suberror:
        body["suberror"] = suberror
    return json_response(status, body)


def _tenant_ok(ctx: Context, tenant: str) -> bool:
    domains = {a.upn.split("@", 1)[1].lower() for a in ctx.state.accounts.values()}
    return tenant.lower() in ("organizations", "common", "consumers") or \
        tenant.lower() in ctx.state.tenant_ids() or tenant.lower() in domains


def _bad_tenant(tenant: str) -> Response:
    return aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found. Check to make sure you have the "
                     "correct tenant ID and are signing into the correct cloud.")


def openid_configuration(ctx: Context, req: Request, tenant: str) -> Response:
    """``/{tenant}/v2.0/.well-known/openid-configuration`` like Entra's."""
    if not _tenant_ok(ctx, tenant):
        return _bad_tenant(tenant)
    base = ctx.base_url
    issuer_tid = tenant if _GUID.match(tenant) else "{tenantid}"
    return json_response(200, {
        "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/{issuer_tid}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
        "http_logout_supported": True, "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                             "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
                             "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": f"{base}/{tenant}/kerberos",
        "tenant_region_scope": None,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": base.split("://", 1)[1],
        "rbac_url": "https://pas.windows.net",
    })


def keys(ctx: Context, req: Request, tenant: str) -> Response:
    """The JWKS document with the stand-in's signing key."""
    return json_response(200, ctx.key.jwks(f"{ctx.base_url}/{{tenantid}}/v2.0"))


def normalize_scopes(raw: str) -> tuple[str, ...]:
    """Split a scope string; ``https://graph.microsoft.com/User.Read`` -> ``User.Read``; de-duplicated."""
    out: list[str] = []
    for s in raw.split():
        s = s[len(GRAPH_PREFIX):] if s.lower().startswith(GRAPH_PREFIX) else s
        if s.lower() not in [o.lower() for o in out]:
            out.append(s)
    return tuple(out)


def _account_allowed(tenant: str, account: Account) -> bool:
    t = tenant.lower()
    if t == "consumers":
        return account.is_personal
    if _GUID.match(t):
        return account.tid == t
    if t in ("organizations", "common"):
        return True  # personal accounts pass so the app's own refusal can be exercised (see README)
    return account.upn.lower().endswith("@" + t)


def authorize(ctx: Context, req: Request, tenant: str) -> Response:
    """Sign-in/consent page; a known ``login_hint`` consents at once and redirects with a code."""
    p = req.form()
    client_id, redirect_uri = p.get("client_id", ""), p.get("redirect_uri", "")
    if not _tenant_ok(ctx, tenant):
        return html_response(400, pages.error_page(90002, f"Tenant '{tenant}' not found."))
    if client_id not in ctx.state.clients:
        return html_response(400, pages.error_page(
            700016, f"Application with identifier '{client_id}' was not found in the directory '{tenant}'."))
    if not re.match(r"^https?://", redirect_uri):
        return html_response(400, pages.error_page(
            900144, "The request body must contain the following parameter: 'redirect_uri'."))
    mode = p.get("response_mode", "query")

    def fail(error: str, code: int, text: str) -> Response:
        return _deliver(redirect_uri, mode, {"error": error, "error_description": f"AADSTS{code}: {text}",
                                             "state": p.get("state", "")})

    if p.get("response_type") != "code":
        return fail("unsupported_response_type", 700054, "response_type must be 'code' for this stand-in.")
    scopes = normalize_scopes(p.get("scope", ""))
    if not scopes:
        return fail("invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
    method = p.get("code_challenge_method") or ("plain" if p.get("code_challenge") else None)
    if method not in (None, "S256", "plain"):
        return fail("invalid_request", 501491, f"Invalid code_challenge_method '{method}'.")
    hint = p.get("login_hint")
    account = ctx.state.account(hint) if hint else None
    if account is None:
        if p.get("prompt") == "none":
            return fail("login_required", 50058, "A silent sign-in request was sent but no user is signed in.")
        note = f"Unknown account '{hint}'." if hint else None
        accounts = [a for a in ctx.state.accounts.values() if _account_allowed(tenant, a)]
        return html_response(200, pages.sign_in_page(req.path, p, accounts, scopes, note))
    if not _account_allowed(tenant, account):
        return html_response(400, pages.error_page(
            50020, f"User account '{account.upn}' from identity provider does not exist in tenant '{tenant}' "
                   "and cannot access the application in that tenant."))
    code = ctx.state.add_code(client_id=client_id, redirect_uri=redirect_uri, scopes=scopes, nonce=p.get("nonce"),
                              challenge=p.get("code_challenge"), challenge_method=method, upn=account.upn)
    return _deliver(redirect_uri, mode, {"code": code.code, "state": p.get("state", ""),
                                         "session_state": str(uuid.uuid4())})


def _deliver(redirect_uri: str, mode: str, fields: dict[str, str]) -> Response:
    """Send the authorization response by query redirect, fragment redirect or form_post."""
    fields = {k: v for k, v in fields.items() if v != "" or k == "state"}
    if mode == "form_post":
        return html_response(200, pages.form_post_page(redirect_uri, fields))
    if mode == "fragment":
        return redirect(redirect_uri + "#" + "&".join(f"{k}={quote(v, safe='')}" for k, v in fields.items()))
    return redirect(with_query(redirect_uri, fields))


def _client_auth(ctx: Context, req: Request, p: dict[str, str]) -> tuple[str, Response | None]:
    """Authenticate the client (client_secret_post or client_secret_basic)."""
    client_id, secret = p.get("client_id", ""), p.get("client_secret")
    auth = req.header("authorization") or ""
    if auth.lower().startswith("basic "):
        try:
            cid, _, sec = base64.b64decode(auth[6:]).decode().partition(":")
            client_id, secret = cid, sec
        except (ValueError, UnicodeDecodeError):
            return client_id, aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
    if client_id not in ctx.state.clients:
        return client_id, aad_error(400, "unauthorized_client", 700016,
                                    f"Application with identifier '{client_id}' was not found in the directory.")
    expected = ctx.state.clients[client_id]
    if expected is not None:
        if not secret:
            return client_id, aad_error(401, "invalid_client", 7000218, "The request body must contain the following "
                                        "parameter: 'client_assertion' or 'client_secret'.")
        if not hmac.compare_digest(secret, expected):
            return client_id, aad_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the "
                                        "secret being sent in the request is the client secret value, not the ID.")
    return client_id, None


def token(ctx: Context, req: Request, tenant: str) -> Response:
    """``POST /{tenant}/oauth2/v2.0/token``: authorization_code (with PKCE) and refresh_token grants."""
    if "application/x-www-form-urlencoded" not in (req.header("content-type") or ""):
        return aad_error(400, "invalid_request", 900144, "The request body must be application/x-www-form-urlencoded.")
    p = req.form()
    client_id, failed = _client_auth(ctx, req, p)
    if failed:
        return failed
    grant = p.get("grant_type")
    if grant == "authorization_code":
        return _code_grant(ctx, tenant, client_id, p)
    if grant == "refresh_token":
        return _refresh_grant(ctx, client_id, p)
    return aad_error(400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'.")


def _pkce_ok(rec: AuthCode, verifier: str | None) -> bool:
    if rec.challenge is None:
        return True
    if not verifier:
        return False
    if rec.challenge_method == "plain":
        return hmac.compare_digest(verifier, rec.challenge)
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest()).rstrip(b"=")
    return hmac.compare_digest(digest.decode(), rec.challenge)


def _code_grant(ctx: Context, tenant: str, client_id: str, p: dict[str, str]) -> Response:
    rec, first = ctx.state.redeem_code(p.get("code", ""))
    if rec is None:
        return aad_error(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if not first:
        return aad_error(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please "
                         "retry with a new valid code or use an existing refresh token.")
    if rec.expires_at < time.time():
        return aad_error(400, "invalid_grant", 70008, "The provided authorization code or refresh token has "
                         "expired due to inactivity. Send a new interactive authorization request.")
    if rec.client_id != client_id:
        return aad_error(400, "invalid_grant", 70000, "The provided authorization code was issued to another "
                         "client.")
    if rec.redirect_uri != p.get("redirect_uri"):
        return aad_error(400, "invalid_grant", 500112, "The reply address does not match the reply address "
                         "provided when requesting Authorization code.")
    if not _pkce_ok(rec, p.get("code_verifier")):
        return aad_error(400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge "
                         "supplied in the authorization request.")
    account = ctx.state.account(rec.upn)
    assert account is not None
    return _issue(ctx, account, client_id, rec.scopes, rec.nonce)


def _refresh_grant(ctx: Context, client_id: str, p: dict[str, str]) -> Response:
    rec = ctx.state.token(p.get("refresh_token", ""), "refresh")
    if rec is None:
        return aad_error(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if rec.revoked:
        error, code, text, sub = REVOKE_REASONS.get(rec.revoked, REVOKE_REASONS["revoked"])
        return aad_error(400, error, code, text, sub)
    if rec.expires_at < time.time():
        error, code, text, sub = REVOKE_REASONS["expired"]
        return aad_error(400, error, code, text, sub)
    if rec.client_id != client_id:
        return aad_error(400, "invalid_grant", 70000, "The refresh token was issued to another client.")
    wanted = normalize_scopes(p.get("scope", "")) or rec.scopes
    granted = {s.lower() for s in rec.scopes} | set(RESERVED_SCOPES)
    missing = [s for s in wanted if s.lower() not in granted and s.lower() != ".default"]
    if missing:
        return aad_error(400, "invalid_grant", 65001, "The user or administrator has not consented to use the "
                         f"application for {' '.join(missing)}. Send an interactive authorization request for "
                         "this user and resource.", "consent_required")
    account = ctx.state.account(rec.upn)
    assert account is not None
    if ctx.state.config.single_use_refresh_tokens:
        with ctx.state.lock:
            rec.revoked = "inactive"
    return _issue(ctx, account, client_id, rec.scopes, None)


def _issue(ctx: Context, account: Account, client_id: str, scopes: tuple[str, ...], nonce: str | None) -> Response:
    """The successful token response."""
    resource = tuple(s for s in scopes if s.lower() not in RESERVED_SCOPES)
    access = ctx.state.issue("access", account.upn, client_id, resource)
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": " ".join(resource + tuple(s for s in ("openid", "profile", "email") if s in scopes)),
        "expires_in": int(access.expires_at - access.issued_at),
        "ext_expires_in": int(access.expires_at - access.issued_at),
        "access_token": access.token,
        "client_info": b64url_json({"uid": account.oid, "utid": account.tid}),
    }
    if "offline_access" in scopes:
        body["refresh_token"] = ctx.state.issue("refresh", account.upn, client_id, scopes).token
    if "openid" in scopes:
        body["id_token"] = ctx.key.sign(id_token_claims(account, client_id, ctx.base_url, nonce, scopes))
    return json_response(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})


def admin_consent(ctx: Context, req: Request, tenant: str) -> Response:
    """``/{tenant}/v2.0/adminconsent``: grants (or, with the ``admin_consent=deny`` knob, refuses) at once."""
    p = req.query
    client_id, redirect_uri, state = p.get("client_id", ""), p.get("redirect_uri", ""), p.get("state", "")
    if not _tenant_ok(ctx, tenant):
        return html_response(400, pages.error_page(90002, f"Tenant '{tenant}' not found."))
    if client_id not in ctx.state.clients:
        return html_response(400, pages.error_page(700016, f"Application with identifier '{client_id}' was not "
                                                   "found in the directory."))
    if not re.match(r"^https?://", redirect_uri):
        return html_response(400, pages.error_page(900144, "The request body must contain the following "
                                                   "parameter: 'redirect_uri'."))
    if ctx.state.config.admin_consent == "deny":
        return redirect(with_query(redirect_uri, {
            "error": "access_denied", "error_subcode": "cancel", "state": state,
            "error_description": "AADSTS65004: User declined to consent to access the app."}))
    hinted = ctx.state.account(p.get("login_hint"))
    if _GUID.match(tenant):
        tid = tenant.lower()
    elif hinted is not None:
        tid = hinted.tid
    else:
        tid = next(a.tid for a in ctx.state.accounts.values() if a.tid != PERSONAL_TENANT_ID)
    with ctx.state.lock:
        ctx.state.consents.append({"tenant": tid, "client_id": client_id, "scope": p.get("scope", ""),
                                   "time": datetime.now(UTC).isoformat()})
    return redirect(with_query(redirect_uri, {"admin_consent": "True", "tenant": tid,
                                              "scope": p.get("scope", ""), "state": state}))


def logout(ctx: Context, req: Request, tenant: str) -> Response:
    """Sign-out: redirect to ``post_logout_redirect_uri`` if given."""
    target = req.query.get("post_logout_redirect_uri")
    if target and re.match(r"^https?://", target):
        return redirect(target)
    return html_response(200, pages.message_page("Signed out (Microsoft stand-in)", "You have been signed out."))
