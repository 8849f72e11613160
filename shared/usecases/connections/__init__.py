"""Microsoft connections: connect links, the OAuth callback, status, disconnect, tokens, admin consent.

Use cases take their dependencies as a ``deps`` object with the attributes they need:
``store`` (EntityStore), ``clock`` (Clock), ``cipher`` (encrypt/decrypt), ``signer`` (sign/verify),
``identity`` (``shared.adapters.microsoft_identity.MicrosoftIdentity`` or a fake), ``queue``
(MessageQueue) and ``public_base_url``. :class:`ConnectionDeps` is one; ``ConnectionDeps.from_container``
wraps the bootstrap container so each dependency is built only when a use case touches it.

Public API used by other features (meetings, availability, sweep):

* ``get_access_token(deps, workspace, user, kind) -> str``: refreshes silently; raises ``NotConnected``
  or ``ReauthRequired`` (the connection is then ``needs_reauth`` with the reason). With
  ``deps.access_token_cache`` (``shared.adapters.access_token_cache.AccessTokenCache``, one per process)
  a token still valid for the slot's current connection is reused without decrypting or asking MSAL.
* ``get_connection(store_or_deps, workspace, user, kind) -> dict | None``: the ``connections`` entity.
* ``mark_teams_unavailable(store_or_deps, workspace, user, reason)``.

Flow: a function-key caller creates a one-time connect link (signed token; storage keeps its SHA-256)
-> the browser opens it, we start MSAL's auth-code flow (PKCE) and keep the flow encrypted in
``authflows`` under the SHA-256 of its ``state`` (10 minutes, used once) -> Microsoft posts back to the
callback, which redeems the code, checks the account (rule 5), stores the encrypted token cache and
marks the slot ``connected`` (rule 6), recording ``teams`` transitions for the backfill sweep.

Layout: ``deps`` (ports, limits, shared checks), ``links`` (connect links, result pages), ``sign_in`` (the
callback), ``google_sign_in`` (Google's callback of a ``google_calendar`` connection), ``tokens``
(``get_access_token``), ``status`` (read, list, disconnect), ``calendars`` (the linked Outlook calendar:
list, choose, check), ``admin_consent``, ``notice_links`` (the long-lived link in a host notice that mints a
fresh connect link, rule 21).
"""
from __future__ import annotations

from shared.ports import Cipher, Identity, Signer
from shared.usecases.connections.admin_consent import (
    complete_admin_consent,
    create_admin_consent_link,
    open_admin_consent_link,
)
from shared.usecases.connections.calendars import (
    check_linked_calendar,
    check_members,
    link_calendar,
    list_calendars,
)
from shared.usecases.connections.deps import (
    ADMIN_CONSENT_CALLBACK_PATH,
    ADMIN_CONSENT_LINK_PURPOSE,
    ADMIN_CONSENT_PATH,
    CALLBACK_PATH,
    CONNECT_LINK_PURPOSE,
    CONNECT_PATH,
    GOOGLE_CALLBACK_PATH,
    MAX_STATE_LENGTH,
    ConnectionDeps,
    ContainerDeps,
)
from shared.usecases.connections.google_sign_in import complete_google_sign_in
from shared.usecases.connections.links import BrowserResult, create_connect_link, open_connect_link, preview_link
from shared.usecases.connections.notice_links import notice_link_url, open_notice_link
from shared.usecases.connections.sign_in import complete_sign_in
from shared.usecases.connections.status import disconnect, get_connection, list_connections, mark_teams_unavailable
from shared.usecases.connections.tokens import get_access_token

__all__ = [
    "ADMIN_CONSENT_CALLBACK_PATH", "ADMIN_CONSENT_LINK_PURPOSE", "ADMIN_CONSENT_PATH", "CALLBACK_PATH",
    "CONNECT_LINK_PURPOSE", "CONNECT_PATH", "GOOGLE_CALLBACK_PATH", "MAX_STATE_LENGTH", "BrowserResult", "Cipher",
    "ConnectionDeps", "ContainerDeps", "Identity", "Signer", "check_linked_calendar", "check_members",
    "complete_admin_consent", "complete_google_sign_in", "complete_sign_in", "link_calendar", "list_calendars",
    "create_admin_consent_link", "create_connect_link", "disconnect", "get_access_token", "get_connection",
    "list_connections", "mark_teams_unavailable", "notice_link_url", "open_admin_consent_link", "open_connect_link",
    "open_notice_link", "preview_link",
]
