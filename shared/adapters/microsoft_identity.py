"""Microsoft identity platform through MSAL: the ONLY module of bookbridge that imports ``msal``.

* ``start_sign_in``: ``ConfidentialClientApplication.initiate_auth_code_flow`` (auth-code flow with
  PKCE, ``response_mode=form_post``, authority ``<MICROSOFT_AUTHORITY_HOST>/organizations``).
* ``finish_sign_in``: ``acquire_token_by_auth_code_flow`` into a fresh ``SerializableTokenCache``.
* ``acquire_token_silent``: one connection's cache in, an access token (and the cache when MSAL changed
  it) out; refresh failures are returned, never raised, so the use case can map them.
* ``admin_consent_url``: ``<host>/{tenant}/v2.0/adminconsent``.

The MSAL construction lives in :meth:`MicrosoftIdentity._msal_kwargs` only. MSAL talks through the
app's ``requests`` session (which trusts ``MICROSOFT_CA_BUNDLE``) with a timeout. Instance discovery is
off: the authority is ours to name (Microsoft's or a local https stand-in) and tokens are only ever
stored for that one host. The authority's OpenID configuration is fetched once per process and reused
by the per-call applications (each gets a private copy of MSAL's http cache).

MSAL logs the authorization code and PKCE verifier at DEBUG (``msal.token_cache``): a filter on the
``msal`` loggers redacts secrets before any handler sees them.
"""
from __future__ import annotations

import copy
import logging
import re
import threading
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from shared.domain.connections import SignInResult, TokenResult
from shared.errors import AuthorizationFailed, ConfigurationError, TransientError
from shared.settings import Settings

log = logging.getLogger("bookbridge.identity")

AUTHORITY_TENANT = "organizations"
RESPONSE_MODE = "form_post"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
METADATA_TTL_SECONDS = 12 * 3600


class _TimeoutHttpClient:
    """The ``requests`` session as MSAL's ``http_client``, with a default timeout (MSAL sets none).

    ``verify`` is passed on every request: with ``session.verify`` alone, a ``REQUESTS_CA_BUNDLE`` or
    ``CURL_CA_BUNDLE`` in the environment silently wins over the session's bundle (psf/requests#3829),
    and the stand-in's certificate (``MICROSOFT_CA_BUNDLE``) would not be trusted.
    """

    def __init__(self, session: Any, timeout: float) -> None:
        self._session = session
        self._timeout = timeout

    def _defaults(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs.setdefault("timeout", self._timeout)
        verify = getattr(self._session, "verify", True)
        if isinstance(verify, str):
            kwargs.setdefault("verify", verify)
        return kwargs

    def get(self, url: str, **kwargs: Any) -> Any:
        return self._session.get(url, **self._defaults(kwargs))

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._session.post(url, **self._defaults(kwargs))

    def close(self) -> None:  # the session is shared: never closed by MSAL
        return None


# ----------------------------------------------------------------------------- log redaction
_SECRET_KEYS = (
    "code", "code_verifier", "client_secret", "refresh_token", "access_token", "id_token", "assertion",
    "client_assertion", "password", "state", "nonce", "secret", "username", "preferred_username", "upn",
    "name", "email", "login_hint", "claims", "client_info",
)
_KEYS = "|".join(sorted(_SECRET_KEYS, key=len, reverse=True))
_JSON_PAIR = re.compile(r'("(?:' + _KEYS + r')"\s*:\s*)"(?:[^"\\]|\\.)*"', re.IGNORECASE)
_QUERY_PAIR = re.compile(r"(?<![A-Za-z0-9_])((?:" + _KEYS + r")=)[^&\s'\"]+", re.IGNORECASE)
_PY_PAIR = re.compile(r"('(?:" + _KEYS + r")'\s*:\s*)'(?:[^'\\]|\\.)*'", re.IGNORECASE)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_EMAIL = re.compile(r"[A-Za-z0-9._%+#-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def redact(text: str) -> str:
    """``text`` with token-, code- and personal-looking values replaced by ``********``."""
    text = _JSON_PAIR.sub(r'\1"********"', text)
    text = _PY_PAIR.sub(r"\1'********'", text)
    text = _QUERY_PAIR.sub(r"\1********", text)
    text = _JWT.sub("********", text)
    return _EMAIL.sub("********", text)  # Microsoft's error descriptions may name the account


class _RedactingFilter(logging.Filter):
    """Formats an MSAL log record and redacts it in place (records are shared with every handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is dropped rather than risk a leak
            return False
        record.msg = redact(message)
        record.args = None
        if record.exc_info or record.exc_text:
            record.exc_info = None
            record.exc_text = None
        return True


_FILTER = _RedactingFilter()
_filter_lock = threading.Lock()


def install_log_redaction() -> None:
    """Attach the redacting filter to every ``msal`` logger (filters do not inherit: each needs it)."""
    import msal  # noqa: F401 - its modules create their loggers on import
    import msal.oauth2cli.oauth2  # noqa: F401
    import msal.oauth2cli.oidc  # noqa: F401
    import msal.token_cache  # noqa: F401

    with _filter_lock:
        names = [n for n in list(logging.root.manager.loggerDict) if n == "msal" or n.startswith("msal.")]
        for name in names:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)


# ----------------------------------------------------------------------------- the adapter
class MicrosoftIdentity:
    """Sign-in (auth-code flow with PKCE) and silent token refresh for one multi-tenant Entra app."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        http_session: Any,
        *,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        timeout: float = 30.0,
    ) -> None:
        host = (authority_host or DEFAULT_AUTHORITY_HOST).strip().rstrip("/")
        parts = urlsplit(host)
        if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/") or parts.query:
            raise ConfigurationError(
                "MICROSOFT_AUTHORITY_HOST must be an https origin such as https://login.microsoftonline.com "
                "(MSAL accepts only https authorities)"
            )
        if not client_id or not client_secret:
            raise ConfigurationError("MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET are required to connect accounts")
        self.client_id = client_id
        self._client_secret = client_secret
        self.authority_host = host
        self.authority = f"{host}/{AUTHORITY_TENANT}"
        self._http = _TimeoutHttpClient(http_session, timeout)
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0

    @classmethod
    def from_settings(cls, settings: Settings, http_session: Any) -> MicrosoftIdentity:
        """Client id/secret and authority host from the settings; ``http_session`` from the container."""
        return cls(
            settings.require("MICROSOFT_CLIENT_ID"),
            settings.require("MICROSOFT_CLIENT_SECRET"),
            http_session,
            authority_host=settings.get("MICROSOFT_AUTHORITY_HOST") or DEFAULT_AUTHORITY_HOST,
        )

    def __repr__(self) -> str:  # never shows the secret
        return f"MicrosoftIdentity(client_id={self.client_id!r}, authority={self.authority!r})"

    # ------------------------------------------------------------------ MSAL construction (one place)
    def _msal_kwargs(self) -> dict[str, Any]:
        """The ``ConfidentialClientApplication`` arguments (adjust here for a different authority)."""
        return {
            "client_credential": self._client_secret,
            "authority": self.authority,
            "http_client": self._http,
            "instance_discovery": False,
            "validate_authority": True,
        }

    def _app(self, cache: Any = None) -> Any:
        """A ``ConfidentialClientApplication`` over ``cache``, reusing the fetched authority metadata."""
        import msal

        install_log_redaction()
        with self._lock:
            fresh = self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL_SECONDS
            http_cache = copy.deepcopy(self._metadata) if fresh else {}
        try:
            app = msal.ConfidentialClientApplication(
                self.client_id, token_cache=cache, http_cache=http_cache, **self._msal_kwargs()
            )
        except (ValueError, msal.exceptions.MsalServiceError) as exc:  # 4xx/5xx on the discovery document
            log.warning("Microsoft authority metadata unavailable: %s", type(exc).__name__)
            raise TransientError("Microsoft sign-in metadata could not be read", retry_after=30) from None
        except Exception as exc:  # noqa: BLE001 - requests errors and the like
            if _is_network_error(exc):
                raise TransientError(f"Microsoft sign-in unreachable: {type(exc).__name__}", retry_after=30) from None
            raise
        if not fresh:
            with self._lock:
                self._metadata = copy.deepcopy(http_cache)
                self._metadata_at = time.monotonic()
        return app

    # ------------------------------------------------------------------ sign-in
    def start_sign_in(self, scopes: list[str], redirect_uri: str, state: str) -> dict[str, Any]:
        """The MSAL auth-code flow (PKCE S256, nonce); ``flow["auth_uri"]`` is where the browser goes."""
        app = self._app()
        return dict(app.initiate_auth_code_flow(
            list(scopes), redirect_uri=redirect_uri, state=state, response_mode=RESPONSE_MODE
        ))

    def finish_sign_in(self, flow: dict[str, Any], auth_response: dict[str, str]) -> SignInResult:
        """Redeem the code of ``auth_response`` for ``flow`` into a new token cache.

        Raises ``AuthorizationFailed`` (code ``sign_in_failed``) when Microsoft or MSAL refuses (bad
        state, nonce or code) and ``TransientError`` when Microsoft cannot be reached. Messages never
        carry the code, state or tokens.
        """
        import msal

        cache = msal.SerializableTokenCache()
        app = self._app(cache)
        try:
            result = app.acquire_token_by_auth_code_flow(dict(flow), dict(auth_response))
        except msal.exceptions.MsalServiceError:  # 5xx from the token endpoint
            raise TransientError("Microsoft sign-in is temporarily unavailable", retry_after=30) from None
        except (ValueError, RuntimeError, KeyError) as exc:  # state/nonce/scope mismatch (MSAL's own checks)
            log.warning("sign-in response refused by MSAL: %s", type(exc).__name__)
            raise AuthorizationFailed("The sign-in response did not match its request.",
                                      code="sign_in_failed") from None
        except Exception as exc:  # noqa: BLE001
            if _is_network_error(exc):
                raise TransientError(f"Microsoft sign-in unreachable: {type(exc).__name__}", retry_after=30) from None
            raise
        if "error" in result:
            error = str(result.get("error") or "")
            codes = tuple(int(c) for c in result.get("error_codes") or () if str(c).isdigit())
            log.info("authorization code refused: error=%s codes=%s", error, list(codes))
            if error in {"temporarily_unavailable", "server_error"}:
                raise TransientError("Microsoft sign-in is temporarily unavailable", retry_after=30)
            raise AuthorizationFailed("Microsoft refused the sign-in.", code="sign_in_failed")
        claims = dict(result.get("id_token_claims") or {})
        if not claims:
            raise AuthorizationFailed("Microsoft returned no id token for the sign-in.", code="sign_in_failed")
        granted = tuple(str(result.get("scope") or "").split())
        return SignInResult(claims=claims, cache=cache.serialize(), scopes=granted,
                            access_token=str(result.get("access_token") or ""))

    # ------------------------------------------------------------------ tokens
    def acquire_token_silent(
        self, cache_text: str, scopes: list[str], account_oid: str, account_tid: str, *, force_refresh: bool = False
    ) -> TokenResult:
        """An access token for the account from its cache, refreshing with the refresh token if needed.

        ``force_refresh`` ignores a cached access token (Graph refused it) and redeems the refresh token.
        """
        import msal

        cache = msal.SerializableTokenCache()
        try:
            cache.deserialize(cache_text)
        except (ValueError, TypeError):
            return TokenResult(no_account=True)
        app = self._app(cache)
        accounts = app.get_accounts()
        home = f"{account_oid}.{account_tid}"
        account = next((a for a in accounts if a.get("home_account_id") == home), None) or next(
            (a for a in accounts if a.get("local_account_id") == account_oid), None
        )
        if account is None:
            return TokenResult(no_account=True)
        try:
            result = app.acquire_token_silent_with_error(list(scopes), account, force_refresh=force_refresh)
        except msal.exceptions.MsalServiceError:  # MSAL raises on 5xx answers of the token endpoint
            return TokenResult(error="temporarily_unavailable", error_description="Microsoft answered 5xx")
        except Exception as exc:  # noqa: BLE001
            if _is_network_error(exc):
                return TokenResult(error="temporarily_unavailable",
                                   error_description=f"Microsoft unreachable: {type(exc).__name__}")
            raise
        if not result:
            return TokenResult(no_account=True)
        changed = cache.serialize() if cache.has_state_changed else None
        if "access_token" in result:
            return TokenResult(access_token=str(result["access_token"]), cache=changed,
                               expires_in=_seconds(result.get("expires_in")),
                               refresh_in=_refresh_in(result.get("refresh_on")))
        return TokenResult(
            error=str(result.get("error") or "unknown_error"),
            error_description=str(result.get("error_description") or ""),
            error_codes=tuple(int(c) for c in result.get("error_codes") or () if str(c).isdigit()),
            cache=changed,
        )

    # ------------------------------------------------------------------ admin consent
    def admin_consent_url(self, tenant: str, scopes: list[str], redirect_uri: str, state: str) -> str:
        """``<host>/{tenant}/v2.0/adminconsent?client_id&scope&redirect_uri&state``."""
        query = urlencode({"client_id": self.client_id, "scope": " ".join(scopes), "redirect_uri": redirect_uri,
                           "state": state})
        return f"{self.authority_host}/{tenant}/v2.0/adminconsent?{query}"


def _seconds(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _refresh_in(refresh_on: Any) -> int | None:
    """MSAL's ``refresh_on`` (epoch seconds) as seconds from now."""
    at = _seconds(refresh_on)
    return None if at is None else at - int(time.time())


def _is_network_error(exc: BaseException) -> bool:
    try:
        import requests
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, (requests.RequestException, ConnectionError, TimeoutError))

