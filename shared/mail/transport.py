"""The one interface every mail transport implements, and a factory that picks one from settings."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from shared.errors import ConfigurationError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import requests

    from shared.mail.message import OutgoingMessage
    from shared.settings import Settings


@runtime_checkable
class MailTransport(Protocol):
    """Sends one message.

    Returns when the server or service has accepted it. Raises
    :class:`shared.errors.DeliveryRejected` when retrying cannot help (5xx SMTP reply,
    recipient refused, malformed address, 4xx HTTP answer) and
    :class:`shared.errors.TransientError` when it may (connection refused or timed out,
    4xx SMTP reply, HTTP 429/5xx; ``retry_after`` set when the service says so).
    """

    def send(self, message: OutgoingMessage) -> None:
        """Send ``message`` or raise ``DeliveryRejected`` / ``TransientError``."""
        ...


def transport_from_settings(settings: Settings, session: requests.Session | None = None) -> MailTransport:
    """The transport named by ``MAIL_TRANSPORT`` (``smtp`` or ``acs``), built from settings.

    ``session`` is the HTTP session the ACS transport uses (default: its own). The chosen
    module is imported only here, so the other one's dependencies never load.
    """
    kind = (settings.get("MAIL_TRANSPORT") or "smtp").strip().lower()
    if kind == "smtp":
        from shared.mail.smtp_transport import SmtpTransport

        return SmtpTransport.from_settings(settings)
    if kind == "acs":
        from shared.mail.acs_transport import AcsEmailTransport

        return AcsEmailTransport.from_settings(settings, session)
    raise ConfigurationError(f"setting MAIL_TRANSPORT must be 'smtp' or 'acs', got {kind!r}")
