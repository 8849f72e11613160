"""What ``make run`` tells a person about connect links, the stand-in's certificate and calendar names.

Pure text built from facts of the running stack, so the banner says exactly what applies locally:
connect links are single-use and short-lived (``CONNECT_LINK_TTL``), how to mint a new one, that the
Microsoft stand-in's TLS certificate comes from a CA made on this start (the browser warns once), and
which calendar ids and slugs the demo has (the management API takes either; the public pages take slugs).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.domain.connections import CONNECT_LINK_TTL


def _minutes() -> int:
    return int(CONNECT_LINK_TTL.total_seconds() // 60)


def connect_link_notes(base_url: str, function_key: str, workspace: str, user: str, kind: str = "teams") -> list[str]:
    """Lines saying that connect links are single-use and expire, and the command that mints a fresh one."""
    url = f"{base_url}/api/workspaces/{workspace}/users/{user}/connections/{kind}/connect-links"
    return [
        f"connect links work ONCE and expire {_minutes()} minutes after they are made; the links above were made "
        "at start-up. For a new one (any USER, KIND teams or microsoft_calendar):",
        f"     curl -s -X POST -H 'x-functions-key: {function_key}' -H 'Content-Type: application/json' -d '{{}}' "
        f"'{url}'",
        f"   or: make connect-link WS={workspace} USER={user} KIND={kind}",
    ]


def certificate_notes(standin_url: str | None, ca_path: str | Path | None) -> list[str]:
    """Lines about the stand-in's self-signed certificate (nothing when real Microsoft is used)."""
    if not standin_url or not ca_path:
        return []
    return [
        f"the Microsoft stand-in ({standin_url}) serves a certificate from a local CA made on this start, so the "
        "browser warns once per run on its sign-in page: choose Advanced > Proceed.",
        f"   or trust the CA for this run: import {ca_path} as a certificate authority (Chromium: Settings > "
        "Privacy and security > Security > Manage certificates > Authorities > Import).",
    ]


def calendar_notes(workspace: str, calendars: list[Mapping[str, Any]]) -> list[str]:
    """Lines naming each demo calendar by id and slug."""
    names = ", ".join(f"id '{c['id']}' = slug '{c['slug']}'" for c in calendars)
    return [f"calendars of '{workspace}': {names} (the management API takes the id or the slug, "
            "the booking page and widget the slug)"]
