"""Azure Communication Services Email transport (REST API 2023-03-31, through ``requests``).

``POST {endpoint}/emails:send?api-version=2023-03-31`` answers ``202 Accepted``.
Authentication is the ACS HMAC-SHA256 access-key scheme when a key is configured,
else a Microsoft Entra token of the app's managed identity (``DefaultAzureCredential``,
scope ``https://communication.azure.com/.default``, imported only then). The
``Operation-Id`` header is derived from the message's idempotency key, so a retried
send is the same operation for the service. User engagement tracking is disabled so
the service never rewrites the meeting link.
"""
from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from shared.errors import ConfigurationError, DeliveryRejected, TransientError
from shared.mail.message import (
    MAX_DISPLAY_NAME_LENGTH,
    MAX_SUBJECT_LENGTH,
    OutgoingMessage,
    clean_header_value,
    normalize_address,
    parse_sender,
)
from shared.settings import Settings

log = logging.getLogger(__name__)

API_VERSION = "2023-03-31"
#: Entra scope of Azure Communication Services data-plane APIs.
ACS_SCOPE = "https://communication.azure.com/.default"
#: Seconds allowed for the HTTP request.
DEFAULT_TIMEOUT = 30.0
_OPERATION_NAMESPACE = uuid.UUID("5b0f7c1e-3f0a-4c59-9a59-0b6f3f0e8a11")
_RESERVED_CUSTOM_HEADERS = frozenset({"message-id", "reply-to"})


class _AccessToken(Protocol):
    @property
    def token(self) -> str:
        """The bearer token."""
        ...


class TokenCredential(Protocol):
    """What :class:`AcsEmailTransport` needs from an ``azure.identity`` credential."""

    def get_token(self, *scopes: str) -> _AccessToken:
        """A bearer token for ``scopes``."""
        ...


def operation_id_for(idempotency_key: str | None) -> str:
    """The ``Operation-Id`` (a UUID) for a message: stable per idempotency key, else random."""
    if idempotency_key:
        return str(uuid.uuid5(_OPERATION_NAMESPACE, idempotency_key))
    return str(uuid.uuid4())


def hmac_headers(method: str, url: str, body: bytes, access_key: str, now: datetime) -> dict[str, str]:
    """``x-ms-date``, ``x-ms-content-sha256`` and ``Authorization`` for an ACS request.

    The signature is HMAC-SHA256 (key: the base64-decoded access key) over
    ``METHOD\\npath?query\\n{x-ms-date};{host};{x-ms-content-sha256}``.
    """
    parts = urlsplit(url)
    path_and_query = parts.path + (f"?{parts.query}" if parts.query else "")
    date = email.utils.format_datetime(now.astimezone(UTC), usegmt=True)
    content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    string_to_sign = f"{method.upper()}\n{path_and_query}\n{date};{parts.netloc};{content_hash}"
    key = base64.b64decode(access_key, validate=True)
    signature = base64.b64encode(
        hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).digest()).decode("ascii")
    return {
        "x-ms-date": date,
        "x-ms-content-sha256": content_hash,
        "Authorization": f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}",
    }


def retry_after_seconds(headers: Any, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``x-ms-retry-after-ms`` or ``Retry-After``
    (delta-seconds or HTTP-date); ``None`` when absent or unreadable."""
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        raw = headers.get(name)
        if raw:
            try:
                return max(0.0, float(raw) / 1000.0)
            except ValueError:
                pass
    raw = headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _error_code(response: requests.Response) -> str:
    """The service's error code (never its message, which may repeat addresses)."""
    code = response.headers.get("x-ms-error-code") or ""
    if not code:
        try:
            payload = response.json()
            code = str((payload.get("error") or {}).get("code") or "")
        except (ValueError, AttributeError):
            code = ""
    return "".join(ch for ch in code if ch.isalnum() or ch in "._-")[:64]


class AcsEmailTransport:
    """Sends messages with the ACS Email REST API."""

    def __init__(
        self,
        endpoint: str,
        *,
        sender: str,
        access_key: str | None = None,
        credential: TokenCredential | None = None,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        api_version: str = API_VERSION,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        parts = urlsplit(endpoint or "")
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ConfigurationError("ACS_EMAIL_ENDPOINT must be an https URL such as "
                                     "https://<name>.communication.azure.com")
        if access_key:
            try:
                base64.b64decode(access_key, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ConfigurationError("ACS_EMAIL_ACCESS_KEY is not valid base64") from exc
        try:
            self._sender, _ = parse_sender(sender)
        except DeliveryRejected as exc:
            raise ConfigurationError("the mail sender (MAIL_FROM) is not a valid address") from exc
        self._url = f"{parts.scheme}://{parts.netloc}/emails:send?api-version={api_version}"
        self._access_key = access_key or None
        self._credential = credential
        self._session = session or requests.Session()
        self._timeout = timeout
        self._clock = clock or (lambda: datetime.now(UTC))

    @classmethod
    def from_settings(cls, settings: Settings, session: requests.Session | None = None) -> AcsEmailTransport:
        """A transport configured by ``ACS_EMAIL_ENDPOINT``, ``ACS_EMAIL_ACCESS_KEY`` and
        ``MAIL_FROM``, sending through ``session`` (a shared one, if given)."""
        return cls(
            settings.require("ACS_EMAIL_ENDPOINT"),
            sender=settings.require("MAIL_FROM"),
            access_key=settings.get("ACS_EMAIL_ACCESS_KEY"),
            session=session,
        )

    # ------------------------------------------------------------------ request
    def build_body(self, message: OutgoingMessage) -> dict[str, Any]:
        """The JSON body of ``emails:send`` for ``message``."""
        recipient: dict[str, str] = {"address": normalize_address(message.to)}
        name = clean_header_value(message.to_name or "", max_length=MAX_DISPLAY_NAME_LENGTH)
        if name:
            recipient["displayName"] = name
        content: dict[str, str] = {
            "subject": clean_header_value(message.subject, max_length=MAX_SUBJECT_LENGTH),
            "plainText": message.text,
        }
        if message.html is not None:
            content["html"] = message.html
        body: dict[str, Any] = {
            "senderAddress": self._sender,
            "recipients": {"to": [recipient]},
            "content": content,
            "userEngagementTrackingDisabled": True,
        }
        if message.reply_to:
            body["replyTo"] = [{"address": normalize_address(message.reply_to)}]
        if message.attachments:
            body["attachments"] = [
                {
                    "name": clean_header_value(att.filename) or "attachment",
                    # ACS checks the bare MIME type against its allowed list.
                    "contentType": clean_header_value(att.content_type.split(";", 1)[0]).lower(),
                    "contentInBase64": base64.b64encode(bytes(att.content)).decode("ascii"),
                }
                for att in message.attachments
            ]
        custom = {clean_header_value(k): clean_header_value(v) for k, v in message.headers.items()
                  if k.lower() not in _RESERVED_CUSTOM_HEADERS}
        if custom:
            body["headers"] = custom
        return body

    def _auth_headers(self, body: bytes) -> dict[str, str]:
        if self._access_key:
            return hmac_headers("POST", self._url, body, self._access_key, self._clock())
        credential = self._credential
        if credential is None:
            from azure.identity import DefaultAzureCredential  # heavy: only without an access key

            credential = self._credential = DefaultAzureCredential()
        try:
            token = credential.get_token(ACS_SCOPE).token
        except Exception as exc:  # azure.core ClientAuthenticationError and friends
            raise TransientError(f"cannot get a managed identity token for ACS ({type(exc).__name__})") from exc
        return {"Authorization": f"Bearer {token}"}

    # ------------------------------------------------------------------ send
    def send(self, message: OutgoingMessage) -> None:
        """Queue ``message`` with ACS; see :class:`~shared.mail.transport.MailTransport`."""
        body = json.dumps(self.build_body(message), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        operation_id = operation_id_for(message.idempotency_key)
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Operation-Id": operation_id,
            "x-ms-client-request-id": operation_id,
            **self._auth_headers(body),
        }
        try:
            response = self._session.post(self._url, data=body, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:
            log.warning("acs email request failed", extra={"operation_id": operation_id,
                                                          "error_type": type(exc).__name__})
            raise TransientError(f"ACS Email did not answer ({type(exc).__name__})") from exc
        self._check(response, operation_id)

    def _check(self, response: requests.Response, operation_id: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            log.info("acs email accepted", extra={"operation_id": operation_id, "status": status})
            return
        code = _error_code(response)
        log.warning("acs email refused", extra={"operation_id": operation_id, "status": status,
                                                "error_code": code})
        if status == 409:
            # The only conflict a send can meet is its Operation-Id being known already:
            # the same message was accepted before (a retry), so it is not sent again.
            log.info("acs email operation already exists", extra={"operation_id": operation_id})
            return
        if status in (408, 429) or status >= 500:
            raise TransientError(f"ACS Email answered {status} {code}".strip(),
                                 retry_after=retry_after_seconds(response.headers))
        raise DeliveryRejected(f"ACS Email refused the message: {status} {code}".strip(),
                               code="acs_rejected")
