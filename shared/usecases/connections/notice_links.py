"""Notice links (rule 21): the link in an email asking a host to act, which mints a fresh connect link.

A connect link works once within 15 minutes, too short for an email read the next morning. A notice link
is signed (nothing stored), good for :data:`NOTICE_LINK_TTL`, and each opening creates a new one-time
connect link and sends the browser to it; once the slot has been connected since the notice was sent, it
answers that nothing is left to do.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import quote

from shared.domain import host_notices as notices
from shared.domain.model import ConnectionKind
from shared.ports import Signer, iso_utc
from shared.repositories.connection_reads import get_connection_row
from shared.usecases.connections.deps import Deps, kind_of
from shared.usecases.connections.links import BrowserResult, create_connect_link, page

log = logging.getLogger("bookbridge.connections")

EXPIRED_NOTICE = ("This link has expired", "Links in bookbridge emails work for 7 days. Ask your workspace "
                  "administrator (or the product you booked through) for a new connect link.")
ALREADY_CONNECTED = ("Already connected", "This connection was renewed after the email was sent, so nothing is "
                     "left to do. Bookings waiting for it are being updated.")


def notice_link_url(signer: Signer, public_base_url: str, workspace: str, user: str, kind: ConnectionKind,
                    now: datetime) -> str:
    """``{PUBLIC_BASE_URL}/api/reconnect/{token}``: the link a host notice carries for ``kind``."""
    token = signer.sign(notices.NOTICE_LINK_PURPOSE,
                        notices.notice_link_payload(workspace, user, kind, int(now.timestamp())))
    return f"{(public_base_url or '').rstrip('/')}{notices.NOTICE_PATH}{quote(token, safe='')}"


def open_notice_link(deps: Deps, token: str) -> BrowserResult:
    """``GET /api/reconnect/{token}``: a fresh one-time connect link (302 to it), or a page saying why not."""
    payload = deps.signer.verify(notices.NOTICE_LINK_PURPOSE, token or "")
    now = deps.clock.now()
    if not payload or not all(isinstance(payload.get(f), str) for f in ("w", "u", "k")) \
            or not isinstance(payload.get("i"), int) or not isinstance(payload.get("x"), int):
        log.info("notice link refused: link_invalid")
        return page(False, *EXPIRED_NOTICE, 400, reason="link_invalid")
    if payload["x"] <= now.timestamp():
        log.info("notice link refused: link_expired")
        return page(False, *EXPIRED_NOTICE, 400, reason="link_expired")
    workspace, user, kind = payload["w"], payload["u"], kind_of(payload["k"])
    issued = iso_utc(datetime.fromtimestamp(payload["i"], tz=UTC))
    if notices.fixed_since(get_connection_row(deps.store, workspace, user, kind.value), issued):
        return page(True, *ALREADY_CONNECTED, 200, reason="already_connected", kind=kind.value)
    link = create_connect_link(deps, workspace, user, kind)
    log.info("notice link opened ws=%s user=%s kind=%s", workspace, user, kind.value)
    return BrowserResult(True, "Continue to the connect link", "A new connect link was made for you.", 302,
                         redirect_to=link["url"], kind=kind.value)
