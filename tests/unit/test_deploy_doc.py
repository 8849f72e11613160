"""docs/deploy.md tells what Microsoft's app registration really accepts."""
from __future__ import annotations

import re
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def test_loopback_http_redirect_uri_is_registered_through_the_manifest() -> None:
    """Page "Redirect URI (reply URL) restrictions and limitations": an http://127.0.0.1 redirect URI can only
    be added by editing the application manifest (replyUrlsWithType), not in the portal's redirect URI box."""
    text = DEPLOY.read_text(encoding="utf-8")
    section = text[text.index("## 5. Register the redirect URIs"):text.index("## 6.")]
    assert "http://127.0.0.1" in section
    assert re.search(r"cannot be entered in the portal", section)
    assert "replyUrlsWithType" in section and "Manifest" in section
