"""SMTP transport (``smtplib``): optional STARTTLS and login, timeouts, error classification.

Reply codes 5xx and refused recipients are permanent (:class:`DeliveryRejected`);
4xx codes, refused connections, timeouts and dropped connections are transient
(:class:`TransientError`). Nothing here logs or raises with a body, an address or the
server's reply text (which often repeats the address): only codes and Message-IDs.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import TYPE_CHECKING

from shared.errors import BookbridgeError, ConfigurationError, DeliveryRejected, TransientError
from shared.mail.message import OutgoingMessage, build_email, normalize_address, parse_sender

if TYPE_CHECKING:  # pragma: no cover - typing only
    from shared.settings import Settings

log = logging.getLogger(__name__)

#: Seconds allowed for connecting and for each SMTP command.
DEFAULT_TIMEOUT = 20.0


def classify_reply(code: int, what: str, *, error_code: str) -> BookbridgeError:
    """The error for an SMTP reply ``code``: 5xx permanent, anything else transient."""
    if 500 <= code <= 599:
        return DeliveryRejected(f"SMTP {code}: {what}", code=error_code)
    return TransientError(f"SMTP {code}: {what}")


class SmtpTransport:
    """Sends messages through one SMTP server (a new connection per message)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        sender_name: str | None = None,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not host:
            raise ConfigurationError("SMTP host is not set")
        if not 0 < int(port) < 65536:
            raise ConfigurationError("SMTP port must be between 1 and 65535")
        if password and not username:
            raise ConfigurationError("an SMTP password is set without a user name")
        try:
            self._sender, self._sender_name = parse_sender(sender)
            self._sender_name = self._sender_name or (sender_name or "").strip() or None
        except DeliveryRejected as exc:
            raise ConfigurationError("the mail sender (MAIL_FROM) is not a valid address") from exc
        self._host = host
        self._port = int(port)
        self._username = username or None
        self._password = password or ""
        self._starttls = starttls
        self._timeout = timeout
        self._ssl_context = ssl_context

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpTransport:
        """A transport configured by ``SMTP_*``, ``MAIL_FROM`` and ``MAIL_FROM_NAME``."""
        return cls(
            settings.require("SMTP_HOST"),
            settings.get_int("SMTP_PORT"),
            sender=settings.require("MAIL_FROM"),
            sender_name=settings.get("MAIL_FROM_NAME"),
            username=settings.get("SMTP_USERNAME"),
            password=settings.get("SMTP_PASSWORD"),
            starttls=settings.get_bool("SMTP_STARTTLS"),
        )

    def send(self, message: OutgoingMessage) -> None:
        """Deliver ``message`` to the server; see :class:`~shared.mail.transport.MailTransport`."""
        recipient = normalize_address(message.to)
        mime = build_email(message, sender=self._sender, sender_name=self._sender_name)
        message_id = str(mime["Message-ID"])
        try:
            self._deliver(mime, recipient)
        except BookbridgeError as exc:
            log.warning("smtp delivery failed", extra={"message_id": message_id, "error_code": exc.code})
            raise
        log.info("smtp message accepted", extra={"message_id": message_id})

    def _deliver(self, mime: EmailMessage, recipient: str) -> None:
        try:
            smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        except smtplib.SMTPConnectError as exc:
            raise TransientError(f"SMTP server refused the session ({exc.smtp_code})") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(f"cannot connect to the SMTP server ({type(exc).__name__})") from exc
        accepted = False
        try:
            self._session(smtp, mime, recipient)
            accepted = True
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()] or [550]
            raise classify_reply(max(codes), "recipient refused", error_code="recipient_refused") from exc
        except smtplib.SMTPSenderRefused as exc:
            raise classify_reply(exc.smtp_code, "sender refused", error_code="sender_refused") from exc
        except smtplib.SMTPDataError as exc:
            raise classify_reply(exc.smtp_code, "message refused", error_code="message_refused") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise classify_reply(exc.smtp_code, "authentication failed",
                                 error_code="smtp_authentication_failed") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryRejected("the SMTP server lacks a required extension (STARTTLS, AUTH or "
                                   "SMTPUTF8)", code="smtp_not_supported") from exc
        except smtplib.SMTPResponseException as exc:
            raise classify_reply(exc.smtp_code, "command refused", error_code="smtp_refused") from exc
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryRejected("the SMTP server's TLS certificate is not trusted",
                                   code="smtp_tls_failed") from exc
        except (OSError, smtplib.SMTPException) as exc:  # disconnects, timeouts, TLS hiccups
            raise TransientError(f"SMTP session failed ({type(exc).__name__})") from exc
        finally:
            self._close(smtp, polite=accepted)

    def _session(self, smtp: smtplib.SMTP, mime: EmailMessage, recipient: str) -> None:
        smtp.ehlo()
        if self._starttls:
            smtp.starttls(context=self._ssl_context or ssl.create_default_context())
            smtp.ehlo()
        if self._username:
            smtp.login(self._username, self._password)
        smtp.send_message(mime, from_addr=self._sender, to_addrs=[recipient])

    @staticmethod
    def _close(smtp: smtplib.SMTP, *, polite: bool) -> None:
        try:
            if polite:
                smtp.quit()
            else:
                smtp.close()
        except (OSError, smtplib.SMTPException):
            smtp.close()
