"""Binding a sign-in or consent flow to the browser that started it (issue 17).

The handler gives the use case the value of the ``bb_consent`` cookie it set when the flow started
(``shared.consent_cookie``); the flow row keeps only its SHA-256, and the callback refuses a flow
finished by a browser that does not present the same value.
"""
from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from shared.usecases.connections.deps import sha256_hex

OTHER_BROWSER = ("Finish in the browser you started in", "This sign-in was started in another browser (or its "
                 "cookie is gone), so it was stopped and nothing was connected. Open a new link and finish the "
                 "sign-in in the same browser.")


def browser_hash(browser: str | None) -> str:
    """What a flow row keeps of its browser's binding (empty: not bound)."""
    return sha256_hex(browser) if browser else ""


def other_browser(row: Mapping[str, Any], browser: str | None) -> bool:
    """True when the flow was bound to a browser and this request does not come from it."""
    expected = str(row.get("browser") or "")
    return bool(expected) and not hmac.compare_digest(expected, browser_hash(browser))
