"""Google's OAuth 2.0 through Authlib: the ONLY module of bookbridge that imports ``authlib``.

Authlib (``authlib.integrations.requests_client.OAuth2Session``) does the authorization-code flow with PKCE
(``code_challenge_method=S256``), the code redemption and the refresh; why Authlib and not
google-auth-oauthlib or requests-oauthlib is in docs/architecture.md ("Google connections"). As documented
in "Using OAuth 2.0 for Web Server Applications": ``access_type=offline`` and ``prompt=consent`` make Google
hand out a refresh token, the token endpoint answers ``invalid_grant`` once it was revoked or expired.

The id token comes straight from the token endpoint over TLS, so its claims are read without checking the
signature (OpenID Connect Core 3.1.3.7; Google's "OpenID Connect" page) and then checked: issuer, audience
(our client id) and expiry (``shared.domain.google.check_account``).

Like ``MicrosoftIdentity`` it implements the ``Identity`` port: the stored "cache" of a connection is the
JSON ``{"refresh_token", "scope"}`` (sealed by the caller with the same MultiFernet), and refresh failures
are returned as a ``TokenResult`` with the error, never raised.
"""
from __future__ import annotations

import base64
import json
import logging
import secrets
from typing import Any

from shared.domain.connections import SignInResult, TokenResult
from shared.errors import AuthorizationFailed, ConfigurationError, TransientError
from shared.settings import Settings

log = logging.getLogger("bookbridge.identity")

AUTHORIZATION_ENDPOINT = "https://accounts.google.com/o/oauth2/v2/auth"
TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"
TIMEOUT_SECONDS = 10.0


def id_token_claims(id_token: str) -> dict[str, Any]:
    """The claims of a JWT (not verified: see the module doc); ``{}`` when it cannot be read."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


class GoogleIdentity:
    """Sign-in and refresh against Google's (or the local stand-in's) OAuth 2.0 endpoints."""

    def __init__(self, client_id: str, client_secret: str, *, authorization_endpoint: str = AUTHORIZATION_ENDPOINT,
                 token_endpoint: str = TOKEN_ENDPOINT, timeout: float = TIMEOUT_SECONDS) -> None:
        self.client_id, self._secret = client_id, client_secret
        self.authorization_endpoint, self.token_endpoint, self.timeout = (authorization_endpoint, token_endpoint,
                                                                          timeout)

    @classmethod
    def from_settings(cls, settings: Settings) -> GoogleIdentity:
        return cls(settings.get("GOOGLE_CLIENT_ID") or "", settings.get("GOOGLE_CLIENT_SECRET") or "",
                   authorization_endpoint=settings.get("GOOGLE_AUTHORIZATION_ENDPOINT") or AUTHORIZATION_ENDPOINT,
                   token_endpoint=settings.get("GOOGLE_TOKEN_ENDPOINT") or TOKEN_ENDPOINT)

    def _session(self, scopes: list[str] | None = None, redirect_uri: str | None = None) -> Any:
        if not self.client_id or not self._secret:
            raise ConfigurationError("GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET are not set")
        from authlib.integrations.requests_client import OAuth2Session

        session = OAuth2Session(self.client_id, self._secret, token_endpoint_auth_method="client_secret_post",
                                scope=" ".join(scopes) if scopes else None, redirect_uri=redirect_uri,
                                code_challenge_method="S256", default_timeout=self.timeout)
        session.trust_env = False  # no proxy or CA bundle from the environment between us and Google
        return session

    def start_sign_in(self, scopes: list[str], redirect_uri: str, state: str) -> dict[str, Any]:
        """The authorization URL (PKCE S256, offline access) and what finishing needs (kept encrypted)."""
        verifier = secrets.token_urlsafe(64)
        session = self._session(scopes, redirect_uri)
        url, _ = session.create_authorization_url(self.authorization_endpoint, state=state, code_verifier=verifier,
                                                  access_type="offline", prompt="consent")
        return {"auth_uri": url, "state": state, "redirect_uri": redirect_uri, "scopes": scopes,
                "code_verifier": verifier}

    def finish_sign_in(self, flow: dict[str, Any], auth_response: dict[str, str]) -> SignInResult:
        """Redeem the code with the flow's verifier; the id token's claims, the refresh token, the scopes."""
        from authlib.integrations.requests_client import OAuthError

        session = self._session(flow.get("scopes"), str(flow["redirect_uri"]))
        try:
            token = session.fetch_token(self.token_endpoint, grant_type="authorization_code",
                                        code=auth_response.get("code", ""), code_verifier=flow["code_verifier"])
        except OAuthError as exc:
            log.warning("google code redemption refused: %s", exc.error)
            if exc.error in {"invalid_client", "unauthorized_client"}:
                raise ConfigurationError(f"Google refused the app's client credentials ({exc.error})") from None
            raise AuthorizationFailed(f"Google refused the authorization code ({exc.error})") from None
        except Exception as exc:  # noqa: BLE001 - network, TLS, an answer that is not JSON
            log.warning("google code redemption failed: %s", type(exc).__name__)
            raise TransientError("Google's token endpoint did not answer", retry_after=5) from None
        refresh = str(token.get("refresh_token") or "")
        if not refresh:
            raise AuthorizationFailed("Google gave no refresh token (offline access not granted)")
        scope = str(token.get("scope") or "")
        return SignInResult(claims=id_token_claims(str(token.get("id_token") or "")),
                            cache=json.dumps({"refresh_token": refresh, "scope": scope}, separators=(",", ":")),
                            scopes=tuple(scope.split()), access_token=str(token.get("access_token") or ""))

    def acquire_token_silent(self, cache_text: str, scopes: list[str], account_oid: str, account_tid: str, *,
                             force_refresh: bool = False) -> TokenResult:
        """A new access token from the stored refresh token (Google's tokens live an hour: always refreshed
        here; the in-process cache keeps them meanwhile)."""
        from authlib.integrations.requests_client import OAuthError

        try:
            refresh = str(json.loads(cache_text).get("refresh_token") or "")
        except (ValueError, AttributeError):
            refresh = ""
        if not refresh:
            return TokenResult(no_account=True)
        try:
            token = self._session().refresh_token(self.token_endpoint, refresh_token=refresh)
        except OAuthError as exc:
            return TokenResult(error=str(exc.error or "invalid_request"))
        except Exception as exc:  # noqa: BLE001 - network, TLS, an answer that is not JSON
            log.warning("google token refresh failed: %s", type(exc).__name__)
            return TokenResult(error="temporarily_unavailable")
        new_refresh = str(token.get("refresh_token") or "")
        cache = None
        if new_refresh and new_refresh != refresh:
            cache = json.dumps({"refresh_token": new_refresh, "scope": str(token.get("scope") or "")},
                               separators=(",", ":"))
        expires = token.get("expires_in")
        return TokenResult(access_token=str(token.get("access_token") or "") or None, cache=cache,
                           expires_in=int(expires) if isinstance(expires, (int, float)) else None)

    def admin_consent_url(self, tenant: str, scopes: list[str], redirect_uri: str, state: str) -> str:
        raise ConfigurationError("Google has no admin-consent step for google_calendar")
