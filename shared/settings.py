"""Every setting bookbridge reads, declared once, read from the environment when used.

``SETTINGS`` is the single list (name, required, default, secret, description) that
``local.settings.sample.json``, the Bicep app settings and the README's table are
held against by tests. Nothing here reads the environment at import time: a missing
required setting is a :class:`~shared.errors.ConfigurationError` when it is used.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.errors import ConfigurationError


@dataclass(frozen=True)
class Setting:
    """One app setting: its name, whether it must be set, its default and whether it is secret."""

    name: str
    required: bool
    default: str | None
    secret: bool
    description: str


SETTINGS: tuple[Setting, ...] = (
    # storage (the Functions host's own connection; the app uses the same account)
    Setting("AzureWebJobsStorage", False, None, True,
            "Storage connection string (local: Azurite). In Azure use AzureWebJobsStorage__accountName."),
    Setting("AzureWebJobsStorage__accountName", False, None, False,
            "Storage account name reached with the app's managed identity (no shared keys)."),
    Setting("FUNCTIONS_WORKER_RUNTIME", True, "python", False,
            "Always 'python' (local host and classic plans; Flex Consumption sets the runtime in the app config)."),
    Setting("AZURE_FUNCTIONS_ENVIRONMENT", False, "Production", False,
            "'Development' in local development (Core Tools and the local host set it): webhook URLs may then be "
            "http and reach loopback or private addresses. Azure: Production."),
    # public addresses
    Setting("PUBLIC_BASE_URL", False, "http://127.0.0.1:7071", False,
            "Base URL the app is reached at by browsers (connect links, manage links, callbacks)."),
    Setting("CORS_ALLOWED_ORIGINS", False, "", False,
            "Comma-separated origins allowed to call the public API from a browser ('*' for any)."),
    # Microsoft identity and Graph
    Setting("MICROSOFT_CLIENT_ID", False, None, False,
            "Application (client) id of the multi-tenant Entra app. Required to connect accounts."),
    Setting("MICROSOFT_CLIENT_SECRET", False, None, True,
            "Client secret of the Entra app (Key Vault reference in Azure). Required to connect accounts."),
    Setting("MICROSOFT_AUTHORITY_HOST", False, "https://login.microsoftonline.com", False,
            "Identity platform host (https). Local runs point it at the Microsoft stand-in."),
    Setting("GRAPH_BASE_URL", False, "https://graph.microsoft.com/v1.0", False,
            "Microsoft Graph base URL. Local runs point it at the Microsoft stand-in."),
    Setting("MICROSOFT_CA_BUNDLE", False, None, False,
            "Path of an extra CA bundle to trust for the authority and Graph (local stand-in only)."),
    # Google (issue 20, rule 28): google_calendar connections, free/busy, events and Meet links
    Setting("GOOGLE_CLIENT_ID", False, None, False,
            "OAuth client id of the Google Cloud web application. Required to connect Google calendars."),
    Setting("GOOGLE_CLIENT_SECRET", False, None, True,
            "OAuth client secret of that Google client (Key Vault reference in Azure)."),
    Setting("GOOGLE_AUTHORIZATION_ENDPOINT", False, "https://accounts.google.com/o/oauth2/v2/auth", False,
            "Google's OAuth 2.0 authorization endpoint. Local runs point it at the Google stand-in."),
    Setting("GOOGLE_TOKEN_ENDPOINT", False, "https://oauth2.googleapis.com/token", False,
            "Google's OAuth 2.0 token endpoint. Local runs point it at the Google stand-in."),
    Setting("GOOGLE_CALENDAR_BASE_URL", False, "https://www.googleapis.com/calendar/v3", False,
            "Google Calendar API v3 base URL. Local runs point it at the Google stand-in."),
    # secrets of our own
    Setting("TOKEN_ENCRYPTION_KEYS", False, None, True,
            "Comma-separated Fernet keys; the first encrypts, all decrypt (rotation). Required for tokens."),
    Setting("LINK_SIGNING_KEY", False, None, True,
            "Secret used to sign manage tokens and one-time links. Required for bookings and connect links."),
    # public endpoints (rule 29): limits are written count/period (units s, m, h, d); 0 turns one off
    Setting("CLIENT_IP_HEADER", False, "", False,
            "Header a trusted proxy in front of the app puts the client address in (X-Azure-ClientIP behind the "
            "optional Front Door, which then is the only way in); empty: App Service's X-Forwarded-For entry."),
    Setting("RATE_LIMIT_BOOKINGS_PER_CLIENT", False, "10/10m", False,
            "Booking POSTs per client address (the address Azure's front end reports)."),
    Setting("RATE_LIMIT_SLOTS_PER_CLIENT", False, "120/1m", False, "Slot GETs per client address."),
    Setting("RATE_LIMIT_CONFIRMATIONS_PER_INVITEE", False, "3/1h", False,
            "Bookings (each sends a confirmation) per invitee address per workspace."),
    Setting("RATE_LIMIT_BOOKINGS_PER_CALENDAR", False, "60/1h", False,
            "Bookings per calendar (a calendar's own `bookings_per_hour` overrides it)."),
    Setting("CALENDAR_CACHE_SECONDS", False, "5", False,
            "Seconds an instance keeps a calendar it read for a booking (a burst on one calendar reads it once); "
            "a change reaches the instance that made it at once, the others within this time (0: off)."),
    Setting("MANAGE_MAX_RESCHEDULES", False, "3", False,
            "Reschedules one booking allows through its manage token (0: no cap)."),
    Setting("BOOKING_FORM_MIN_FILL_MS", False, "2000", False,
            "A booking page/widget form sent sooner after it was shown is refused quietly (0: off)."),
    Setting("TURNSTILE_SECRET_KEY", False, None, True,
            "Cloudflare Turnstile secret: when set, intake requires a verified human-check token (off when empty)."),
    Setting("TURNSTILE_SITE_KEY", False, None, False,
            "Cloudflare Turnstile site key the booking page and widget render the challenge with."),
    Setting("TURNSTILE_VERIFY_URL", False, "https://challenges.cloudflare.com/turnstile/v0/siteverify", False,
            "Turnstile's siteverify endpoint (a local stand-in in tests)."),
    # schedules
    Setting("BACKFILL_SCHEDULE", False, "0 */5 * * * *", False,
            "Six-field NCRONTAB schedule of the backfill sweep."),
    # inbound sync (rule 19): Graph change notifications on hosts' Outlook events
    Setting("GRAPH_NOTIFICATION_BASE_URL", False, "", False,
            "Base URL Graph posts change and lifecycle notifications to (+ /api/notifications/microsoft[/lifecycle]); "
            "empty: PUBLIC_BASE_URL. Graph requires https with a valid certificate (locally the stand-in calls the "
            "local host over http)."),
    Setting("GRAPH_SUBSCRIPTION_MINUTES", False, "4200", False,
            "Lifetime asked for each subscription on a host's events, in minutes (Graph's maximum for Outlook "
            "events is 4230, page \"subscription resource type\")."),
    Setting("GRAPH_SUBSCRIPTION_RENEW_BEFORE_MINUTES", False, "1440", False,
            "A subscription is renewed by the 30-minute timer this many minutes before it expires."),
    # mail
    Setting("MAIL_TRANSPORT", False, "smtp", False, "'smtp' or 'acs' (Azure Communication Services Email)."),
    Setting("MAIL_FROM", False, "bookings@bookbridge.local", False, "Sender address of every message."),
    Setting("MAIL_FROM_NAME", False, "bookbridge", False,
            "Sender display name shown by mail clients (SMTP; a name given in MAIL_FROM wins; with ACS the "
            "display name of the sender username in Azure is used)."),
    Setting("SMTP_HOST", False, "127.0.0.1", False, "SMTP server host."),
    Setting("SMTP_PORT", False, "8025", False, "SMTP server port."),
    Setting("SMTP_USERNAME", False, None, False, "SMTP user name, if the server needs one."),
    Setting("SMTP_PASSWORD", False, None, True, "SMTP password, if the server needs one."),
    Setting("SMTP_STARTTLS", False, "false", False, "'true' to upgrade the SMTP connection with STARTTLS."),
    Setting("ACS_EMAIL_ENDPOINT", False, None, False,
            "Azure Communication Services endpoint (https://<name>.communication.azure.com) for MAIL_TRANSPORT=acs."),
    Setting("ACS_EMAIL_ACCESS_KEY", False, None, True,
            "ACS access key; when absent the managed identity is used."),
)

#: Read only by the local Functions host (``devhost/``), never by the app nor deployed: the README's settings
#: table lists them as local-only.
LOCAL_ONLY_SETTINGS: tuple[Setting, ...] = (
    Setting("DEVHOST_FUNCTION_KEY", False, "", True,
            "Local only (devhost): the function key function-level routes require (x-functions-key or ?code=). "
            "Empty, with DEVHOST_MASTER_KEY empty too: no key is checked."),
    Setting("DEVHOST_MASTER_KEY", False, "", True,
            "Local only (devhost): the master key; also accepted by function-level routes and required by /admin/."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


class Settings:
    """Typed, lazy access to the settings in an environment mapping (default: ``os.environ``)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if environ is None else environ

    def get(self, name: str) -> str | None:
        """The value of a declared setting, or its default; ``None`` when unset without default."""
        spec = _BY_NAME.get(name)
        if spec is None:
            raise KeyError(f"undeclared setting {name!r}: add it to shared.settings.SETTINGS")
        value = self._env.get(name)
        if value is None or value == "":
            return spec.default
        return value

    def require(self, name: str) -> str:
        """The value of a setting that this use needs; a clear error when it is missing."""
        value = self.get(name)
        if value is None or value == "":
            raise ConfigurationError(f"setting {name} is required for this operation and is not set")
        return value

    def get_bool(self, name: str) -> bool:
        """A boolean setting ('true'/'1'/'yes' are true)."""
        return (self.get(name) or "").strip().lower() in {"1", "true", "yes", "on"}

    def get_int(self, name: str) -> int:
        """An integer setting."""
        raw = self.require(name)
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigurationError(f"setting {name} must be an integer, got {raw!r}") from exc

    def get_list(self, name: str) -> list[str]:
        """A comma-separated setting as a list of non-empty stripped items."""
        return [p.strip() for p in (self.get(name) or "").split(",") if p.strip()]
