"""Google's OAuth 2.0 endpoints as the stand-in serves them.

As documented in "Using OAuth 2.0 for Web Server Applications" and "OpenID Connect" (Google Identity):
the authorization endpoint takes ``client_id``, ``redirect_uri``, ``response_type=code``, ``scope``,
``state``, ``access_type=offline`` and PKCE's ``code_challenge`` / ``code_challenge_method`` (RFC 7636) and
redirects back with ``code``, ``state`` and the granted ``scope`` (or ``error=access_denied``); the token
endpoint redeems a code once, for the same ``redirect_uri``, only with the right ``code_verifier``, and
answers ``access_token``, ``expires_in``, ``scope``, ``token_type``, ``id_token`` and (offline access) a
``refresh_token``; a refresh token that was revoked answers ``invalid_grant`` ("Token has been expired or
revoked.").
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from devhost.msstandin.web import (
    Request,
    Response,
    Router,
    esc,
    html_response,
    json_response,
    page,
    redirect,
    with_query,
)

from .state import Code, Grant, State

IDENTITY_SCOPES = {"openid", "email", "profile", "https://www.googleapis.com/auth/userinfo.email",
                   "https://www.googleapis.com/auth/userinfo.profile"}
ISSUER = "https://accounts.google.com"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def id_token(state: State, email: str, client_id: str, nonce: str, now: float) -> str:
    """An OpenID Connect id token (RS256 header; the signature is not checkable: it came over the token call)."""
    account = state.account(email)
    assert account is not None
    claims: dict[str, Any] = {"iss": ISSUER, "azp": client_id, "aud": client_id, "sub": account.sub,
                              "email": account.email, "email_verified": True, "name": account.name,
                              "iat": int(now), "exp": int(now) + 3600}
    if nonce:
        claims["nonce"] = nonce
    if account.hd:
        claims["hd"] = account.hd
    header = {"alg": "RS256", "kid": "standin", "typ": "JWT"}
    parts = [_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(secrets.token_bytes(64))]
    return ".".join(parts)


def token_error(status: int, error: str, description: str) -> Response:
    return json_response(status, {"error": error, "error_description": description})


class OAuth:
    """The authorization page, the token endpoint and revocation, on one :class:`State`."""

    def __init__(self, state: State, known_scopes: set[str], clock: Callable[[], float] = time.time) -> None:
        self.state, self.known_scopes, self.clock = state, known_scopes | IDENTITY_SCOPES, clock

    def register(self, router: Router) -> None:
        router.add("GET", r"/o/oauth2/v2/auth", self.authorize)
        router.add("POST", r"/o/oauth2/v2/auth", self.decide)
        router.add("POST", r"/token", self.token)
        router.add("POST", r"/revoke", self.revoke)

    # ------------------------------------------------------------------ authorization
    def _problem(self, params: dict[str, str]) -> str | None:
        if params.get("client_id") not in self.state.clients:
            return "invalid_client: The OAuth client was not found."
        uri = params.get("redirect_uri") or ""
        if urlsplit(uri).scheme not in ("http", "https") or not urlsplit(uri).netloc:
            return "redirect_uri_mismatch: a registered absolute redirect_uri is required."
        if params.get("response_type") != "code":
            return "unsupported_response_type: response_type must be code."
        scopes = (params.get("scope") or "").split()
        unknown = [s for s in scopes if s not in self.known_scopes]
        if not scopes or unknown:
            return f"invalid_scope: Some requested scopes were invalid. {unknown}"
        method = params.get("code_challenge_method") or ("plain" if params.get("code_challenge") else "")
        if method and method not in ("plain", "S256"):
            return "invalid_request: Invalid code_challenge_method."
        if params.get("code_challenge_method") and not params.get("code_challenge"):
            return "invalid_request: Missing code_challenge."
        return None

    def authorize(self, _ctx: Any, req: Request) -> Response:
        """The consent page: one button per account (the form posts the request back with the choice)."""
        params = dict(req.query)
        problem = self._problem(params)
        if problem:
            return html_response(400, page("Error 400", f"<p>{esc(problem)}</p>"))
        hidden = "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in params.items())
        with self.state.lock:
            accounts = list(self.state.accounts.values())
        buttons = "".join(f'<form method="post">{hidden}<input type="hidden" name="account" value="{esc(a.email)}">'
                          f'<button name="decision" value="allow">Continue as {esc(a.email)}</button></form>'
                          for a in accounts)
        deny = f'<form method="post">{hidden}<button name="decision" value="deny">Cancel</button></form>'
        scopes = "".join(f"<li>{esc(s)}</li>" for s in (params.get("scope") or "").split())
        return html_response(200, page("Sign in with Google (stand-in)",
                                       f"<p>bookbridge wants to:</p><ul>{scopes}</ul>{buttons}{deny}"))

    def decide(self, _ctx: Any, req: Request) -> Response:
        params = req.form()
        problem = self._problem(params)
        if problem:
            return html_response(400, page("Error 400", f"<p>{esc(problem)}</p>"))
        back = params["redirect_uri"]
        state = {"state": params["state"]} if params.get("state") else {}
        email = params.get("account") or ""
        if params.get("decision") != "allow" or self.state.account(email) is None:
            return redirect(with_query(back, {"error": "access_denied", **state}))
        scopes = tuple(params["scope"].split())
        code = "4/standin-" + secrets.token_urlsafe(24)
        method = params.get("code_challenge_method") or ("plain" if params.get("code_challenge") else "")
        with self.state.lock:
            self.state.codes[code] = Code(email, params["client_id"], back, scopes, params.get("code_challenge", ""),
                                          method, params.get("nonce", ""), params.get("access_type") == "offline")
        return redirect(with_query(back, {**state, "code": code, "scope": " ".join(scopes), "authuser": "0",
                                          "prompt": "consent"}))

    # ------------------------------------------------------------------ token endpoint
    def _client(self, req: Request, form: dict[str, str]) -> str | None:
        basic = req.header("authorization") or ""
        if basic.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            from urllib.parse import unquote_plus

            client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        known = self.state.clients.get(client_id)
        return client_id if known is not None and secrets.compare_digest(known, secret) else None

    def token(self, ctx: Any, req: Request) -> Response:
        form = {k: v for k, v in req.form().items() if k not in req.query}
        checked = dict(form)
        if (req.header("authorization") or "").lower().startswith("basic "):
            checked.setdefault("client_id", "basic"), checked.setdefault("client_secret", "basic")
        problems = ctx.contract.check_token_request(checked)
        if problems:
            return token_error(400, "invalid_request", "; ".join(str(p) for p in problems))
        client_id = self._client(req, form)
        if client_id is None:
            return token_error(401, "invalid_client", "Unauthorized")
        if form["grant_type"] == "authorization_code":
            return self._redeem(client_id, form)
        with self.state.lock:
            grant = self.state.refresh_tokens.get(form["refresh_token"])
        if grant is None or grant.revoked or grant.client_id != client_id:
            return token_error(400, "invalid_grant", "Token has been expired or revoked.")
        access = self.state.issue_access_token(grant, self.clock())
        return json_response(200, {"access_token": access, "expires_in": 3599, "scope": " ".join(grant.scopes),
                                   "token_type": "Bearer"})

    def _redeem(self, client_id: str, form: dict[str, str]) -> Response:
        with self.state.lock:
            code = self.state.codes.get(form["code"])
            if code is None or code.used or code.client_id != client_id:
                return token_error(400, "invalid_grant", "Malformed auth code.")
            code.used = True  # one use, whatever happens next
        if code.redirect_uri != form["redirect_uri"]:
            return token_error(400, "invalid_grant", "Bad Request")
        if code.challenge:
            verifier = form.get("code_verifier") or ""
            expected = (_b64(hashlib.sha256(verifier.encode()).digest()) if code.challenge_method == "S256"
                        else verifier)
            if not verifier or not secrets.compare_digest(expected, code.challenge):
                return token_error(400, "invalid_grant", "Invalid code verifier.")
        elif form.get("code_verifier"):
            return token_error(400, "invalid_grant", "code_verifier or verifier is not needed.")
        grant = Grant(code.email, client_id, code.scopes)
        now = self.clock()
        body: dict[str, Any] = {"access_token": self.state.issue_access_token(grant, now), "expires_in": 3599,
                                "scope": " ".join(code.scopes), "token_type": "Bearer"}
        if "openid" in code.scopes:
            body["id_token"] = id_token(self.state, code.email, client_id, code.nonce, now)
        if code.offline:
            refresh = "1//standin-" + secrets.token_urlsafe(32)
            with self.state.lock:
                self.state.refresh_tokens[refresh] = grant
            body["refresh_token"] = refresh
        return json_response(200, body)

    def revoke(self, _ctx: Any, req: Request) -> Response:
        token = req.form().get("token") or ""
        with self.state.lock:
            grant = self.state.refresh_tokens.get(token) or (self.state.access_tokens.get(token) or (None,))[0]
            if grant is None:
                return json_response(400, {"error": "invalid_token", "error_description": "Bad Request"})
            grant.revoked = True
        return json_response(200, {})
