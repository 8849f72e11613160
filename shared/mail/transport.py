"""The one interface every mail transport implements, and a factory that picks one from settings."""
from __future__ import annotations

from typing import TYPE_CHECKING

from shared.errors import ConfigurationError
from shared.ports import MailTransport

if TYPE_CHECKING:  # pragma: no cover - typing only
    import requests

    from shared.settings import Settings


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
