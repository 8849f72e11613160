"""Test support for Microsoft connections: a ``responses``-based Microsoft identity platform and deps.

``FakeMicrosoft`` plays the authorize step (``sign_in``: what Microsoft would post back after the user
signed in) and answers the token endpoint like Entra: PKCE S256 checked, codes single-use, the id
token carries the nonce from the authorize URL, refresh tokens rotate, refresh failures on demand.
It remembers every secret it saw or issued so tests can assert none of them reached a log line.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import responses

from shared.adapters.microsoft_identity import MicrosoftIdentity
from shared.adapters.signing import Signer
from shared.adapters.token_cipher import TokenCipher
from shared.domain.model import PERSONAL_ACCOUNT_TENANT_ID
from shared.usecases.connections import ConnectionDeps
from tests.fakes import FixedClock, InMemoryEntityStore, InMemoryMessageQueue

CLIENT_ID = "6f1c6a86-2a8c-4a1e-9d0e-7d1e2b3c4d5e"
CLIENT_SECRET = "client-secret-value-never-logged-7Q"
MICROSOFT_HOST = "https://login.microsoftonline.com"
PUBLIC_BASE = "https://bookbridge.example"
RETURN_URL = "https://product.example/settings/connections?tab=video"
SIGNING_KEY = "link-signing-key-for-tests-0123456789"

CONTOSO = "f20819f0-fd3e-4491-aad0-0479085b2e6f"
FABRIKAM = "ad09e6a0-c1ad-4d3a-a59d-8e85fb357169"

ALICE = {"oid": "3743f5ba-10c7-41d8-838b-7d52ca026829", "tid": CONTOSO, "upn": "alice@contoso.example",
         "name": "Alice Archer"}
BOB = {"oid": "09ff5609-310e-48ce-b202-e1f097adcb42", "tid": CONTOSO, "upn": "bob@contoso.example",
       "name": "Bob Baker"}
CAROL = {"oid": "068589eb-536f-4554-aff8-ab928a7ae612", "tid": FABRIKAM, "upn": "carol@fabrikam.example",
         "name": "Carol Chen"}
PERSONAL = {"oid": "00000000-0000-0000-66f3-3332eca7ea81", "tid": PERSONAL_ACCOUNT_TENANT_ID,
            "upn": "pat@outlook.example", "name": "Pat Personal", "idp": "live.com"}
GUEST_FROM_LIVE = {"oid": "5b1d4b1e-1111-4c1e-8f7e-1a2b3c4d5e6f", "tid": CONTOSO,
                   "upn": "gus_outlook.example#EXT#@contoso.example", "name": "Gus Guest", "idp": "live.com"}


def b64url_json(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned_jwt(claims: dict[str, Any]) -> str:
    """An id token MSAL accepts (it reads claims; validation is the app's own business)."""
    return b64url_json({"alg": "none", "typ": "JWT"}) + "." + b64url_json(claims) + "."


@dataclass
class _Code:
    account: dict[str, Any]
    nonce: str
    challenge: str
    scopes: list[str]
    redirect_uri: str


@dataclass
class FakeMicrosoft:
    """The identity platform on ``host`` behind ``responses`` (call :meth:`install` on a RequestsMock)."""

    host: str = MICROSOFT_HOST
    access_token_lifetime: int = 3600
    refresh_failure: dict[str, Any] | None = None
    refresh_status: int = 400
    codes: dict[str, _Code] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen_secrets: set[str] = field(default_factory=set)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    authorize_params: list[dict[str, str]] = field(default_factory=list)
    last_refresh_token: str = ""
    grant_only: list[str] | None = None  # a tenant that grants fewer scopes than asked for

    def __post_init__(self) -> None:
        self.seen_secrets.add(CLIENT_SECRET)

    @property
    def token_endpoint(self) -> str:
        return f"{self.host}/organizations/oauth2/v2.0/token"

    def install(self, rsps: responses.RequestsMock) -> FakeMicrosoft:
        base = f"{self.host}/organizations"
        rsps.add(responses.GET, f"{base}/v2.0/.well-known/openid-configuration", json={
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": self.token_endpoint,
            "issuer": f"{self.host}/{{tenantid}}/v2.0",
            "response_modes_supported": ["query", "fragment", "form_post"],
        })
        rsps.add_callback(responses.POST, self.token_endpoint, callback=self._token)
        return self

    # ------------------------------------------------------------------ the browser's part
    def sign_in(self, authorize_url: str, account: dict[str, Any]) -> dict[str, str]:
        """What Microsoft sends back to the redirect URI after ``account`` signed in and consented."""
        parts = urlsplit(authorize_url)
        assert f"{parts.scheme}://{parts.netloc}" == self.host
        assert parts.path == "/organizations/oauth2/v2.0/authorize"
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.authorize_params.append(q)
        assert q["client_id"] == CLIENT_ID and q["response_type"] == "code"
        assert q["code_challenge_method"] == "S256" and q["code_challenge"]
        code = "code-" + secrets.token_urlsafe(24)
        self.codes[code] = _Code(account, q["nonce"], q["code_challenge"], q["scope"].split(), q["redirect_uri"])
        self.seen_secrets.update({code, q["state"], q["nonce"]})
        return {"code": code, "state": q["state"], "session_state": str(uuid.uuid4()),
                "client_info": b64url_json({"uid": account["oid"], "utid": account["tid"]})}

    def error_response(self, authorize_url: str, error: str, description: str) -> dict[str, str]:
        q = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
        self.seen_secrets.add(q["state"])
        return {"error": error, "error_description": description, "state": q["state"]}

    # ------------------------------------------------------------------ the token endpoint
    def _error(self, status: int, error: str, code: int, text: str) -> tuple[int, dict[str, str], str]:
        return status, {"Content-Type": "application/json"}, json.dumps({
            "error": error, "error_description": f"AADSTS{code}: {text} Trace ID: {uuid.uuid4()}",
            "error_codes": [code]})

    def _token(self, request: Any) -> tuple[int, dict[str, str], str]:
        form = {k: v[0] for k, v in parse_qs(request.body if isinstance(request.body, str)
                                             else request.body.decode()).items()}
        self.token_requests.append(form)
        for key in ("code_verifier", "refresh_token", "code"):
            if form.get(key):
                self.seen_secrets.add(form[key])
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return self._error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        if form.get("grant_type") == "authorization_code":
            rec = self.codes.pop(form.get("code", ""), None)
            if rec is None:
                return self._error(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed.")
            digest = base64.urlsafe_b64encode(hashlib.sha256(form["code_verifier"].encode()).digest()).rstrip(b"=")
            if digest.decode() != rec.challenge or form.get("redirect_uri") != rec.redirect_uri:
                return self._error(400, "invalid_grant", 501481, "The Code_Verifier does not match.")
            return self._issue(rec.account, rec.scopes, rec.nonce)
        if form.get("grant_type") == "refresh_token":
            if self.refresh_failure is not None:
                f = self.refresh_failure
                return self._error(self.refresh_status, f["error"], f["code"], f.get("text", "refused"))
            rec = self.refresh_tokens.get(form.get("refresh_token", ""))  # Entra: still valid after use
            if rec is None:
                return self._error(400, "invalid_grant", 70000, "The refresh token is not valid.")
            return self._issue(rec["account"], rec["scopes"], None)
        return self._error(400, "unsupported_grant_type", 70003, "unsupported")

    def _issue(self, account: dict[str, Any], scopes: list[str], nonce: str | None) -> tuple[int, dict, str]:
        access = "at-" + secrets.token_urlsafe(32)
        refresh = "rt-" + secrets.token_urlsafe(48)
        self.refresh_tokens[refresh] = {"account": account, "scopes": scopes}
        self.last_refresh_token = refresh
        now = int(time.time())
        claims = {"aud": CLIENT_ID, "iss": f"{self.host}/{account['tid']}/v2.0", "iat": now, "nbf": now,
                  "exp": now + 3600, "oid": account["oid"], "tid": account["tid"], "sub": "sub-" + account["oid"],
                  "preferred_username": account["upn"], "name": account["name"], "ver": "2.0"}
        if account.get("idp"):
            claims["idp"] = account["idp"]
        if nonce is not None:
            claims["nonce"] = nonce
        id_token = unsigned_jwt(claims)
        self.seen_secrets.update({access, refresh, id_token})
        resource = [s for s in scopes if s not in ("openid", "profile", "offline_access")]
        if self.grant_only is not None:
            resource = list(self.grant_only)
        body = {"token_type": "Bearer", "scope": " ".join(resource + ["openid", "profile"]),
                "expires_in": self.access_token_lifetime, "ext_expires_in": self.access_token_lifetime,
                "access_token": access, "refresh_token": refresh, "id_token": id_token,
                "client_info": b64url_json({"uid": account["oid"], "utid": account["tid"]})}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def refresh_calls(self) -> int:
        return sum(1 for r in self.token_requests if r.get("grant_type") == "refresh_token")

    def all_secrets(self) -> set[str]:
        """Every code, state, nonce, verifier, token and the client secret seen or issued."""
        return {s for s in self.seen_secrets if s}


def make_identity(host: str = MICROSOFT_HOST, session: Any = None) -> MicrosoftIdentity:
    return MicrosoftIdentity(CLIENT_ID, CLIENT_SECRET, session or requests.Session(), authority_host=host)


def make_deps(*, store: Any = None, queue: Any = None, clock: FixedClock | None = None,
              keys: list[str] | None = None, identity: Any = None, host: str = MICROSOFT_HOST,
              token_cache: Any = "new") -> ConnectionDeps:
    """Deps over the fakes; ``token_cache``: ``"new"`` (a fresh ``AccessTokenCache``), one to share, or ``None``."""
    from shared.adapters.access_token_cache import AccessTokenCache

    return ConnectionDeps(
        store=store if store is not None else InMemoryEntityStore(),
        clock=clock or FixedClock(),
        cipher=TokenCipher(keys or [TokenCipher.generate_key()]),
        identity=identity or make_identity(host),
        signer=Signer(SIGNING_KEY),
        queue=queue if queue is not None else InMemoryMessageQueue(),
        public_base_url=PUBLIC_BASE,
        access_token_cache=AccessTokenCache() if token_cache == "new" else token_cache,
    )


def seed_user(store: Any, ws: str, user: str) -> None:
    store.upsert("workspaces", {"PartitionKey": ws, "RowKey": "workspace", "name": f"Workspace {ws}"})
    store.upsert("users", {"PartitionKey": ws, "RowKey": user, "name": f"User {user}",
                           "email": f"{user}@product.example", "timezone": "UTC"})


def location_query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def connect(deps: Any, ms: FakeMicrosoft, ws: str, user: str, kind: str, account: dict[str, Any],
            return_url: str | None = RETURN_URL) -> Any:
    """Link -> open -> sign in -> callback; returns the callback's BrowserResult."""
    from shared.usecases.connections import complete_sign_in, create_connect_link, open_connect_link

    link = create_connect_link(deps, ws, user, kind, return_url)
    token = link["url"].rsplit("/", 1)[1]
    ms.seen_secrets.add(token)  # the one-time link must not be logged either
    opened = open_connect_link(deps, token)
    assert opened.redirect_to, opened
    return complete_sign_in(deps, ms.sign_in(opened.redirect_to, account))


# ----------------------------------------------------------------------------- log checks
LOGGERS_AT_DEBUG = ("msal", "msal.token_cache", "msal.application", "urllib3", "requests", "responses", "azure",
                    "bookbridge", "devhost")
ACCOUNTS = (ALICE, BOB, CAROL, PERSONAL, GUEST_FROM_LIVE)


def capture_everything(caplog: Any) -> None:
    """Every logger at DEBUG (root, MSAL, urllib3, the Azure SDK, ours)."""
    import logging

    caplog.set_level(logging.DEBUG)
    for name in LOGGERS_AT_DEBUG:
        caplog.set_level(logging.DEBUG, logger=name)


def leaked(caplog: Any, secrets_: set[str]) -> list[str]:
    """The secrets (shortened) that appear in any record captured while the test set up and ran.

    Called from a fixture's teardown: ``caplog.records`` would only hold the teardown's records.
    """
    import logging

    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = []
    for record in records:
        try:
            texts.append(formatter.format(record))
        except Exception:  # noqa: BLE001
            pass
        try:
            texts.append(record.getMessage())
        except Exception:  # noqa: BLE001
            texts.append(str(record.msg))
        texts.append(repr(record.args))
        if record.exc_text:
            texts.append(record.exc_text)
    blob = "\n".join(texts)
    return sorted(s[:10] + "..." for s in secrets_ if s and len(s) >= 6 and s in blob)


def sensitive_values(ms: FakeMicrosoft | None) -> set[str]:
    """Secrets of a test: the app's secrets, everything Microsoft issued or saw, the accounts' upns/names."""
    values = {CLIENT_SECRET, SIGNING_KEY}
    for account in ACCOUNTS:
        values.update({account["upn"], account["name"]})
    if ms is not None:
        values |= ms.all_secrets()
    return values
