"""What ``make smoke`` and the end-to-end tests do with Google: connect a ``google_calendar`` through the
Google stand-in's consent page (scripted like a person's browser), and its ``/_sandbox`` (issue 20)."""
from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devhost import demo
from devhost.smoke import Client, StepFailed


def google_base(client: Client) -> str:
    """The Google stand-in's base URL of the stack (``stack.json``'s ``google.standin_base_url``)."""
    base = (client.info.get("google") or {}).get("standin_base_url")
    if not base:
        raise StepFailed("this stack does not run the Google stand-in")
    return str(base)


def google_sandbox(client: Client, method: str, path: str, body: Any = None) -> Any:
    """A ``/_sandbox/...`` call on the Google stand-in; its JSON."""
    resp = client.http.request(method, f"{google_base(client)}{path}", json=body, timeout=30)
    if resp.status_code >= 400:
        raise StepFailed(f"google sandbox {method} {path} -> {resp.status_code} {resp.text[:200]}")
    return resp.json() if resp.content else None


def connect_google(client: Client, workspace: str, user: str, email: str) -> tuple[int, str, str]:
    """Connect link -> Continue -> Google's consent page, "Continue as ``email``" -> callback.

    Returns the callback's ``(status code, page title, page text)``."""
    url = demo.connect_link(client.base, client.function_key, workspace, user, "google_calendar")
    page = client.http.get(url, allow_redirects=False, timeout=30)
    if page.status_code != 200 or "Continue to Google" not in page.text:
        raise StepFailed(f"connect link answered {page.status_code}, not its Continue to Google page")
    resp = client.http.post(url, allow_redirects=False, timeout=30)  # sets the browser-binding cookie
    if resp.status_code != 302:
        raise StepFailed(f"continuing the connect link answered {resp.status_code}, not a redirect to Google")
    authorize = resp.headers["Location"]
    consent = client.http.get(authorize, allow_redirects=False, timeout=30)
    if consent.status_code != 200 or email not in consent.text:
        raise StepFailed(f"Google's consent page answered {consent.status_code} without {email}")
    params = dict(parse_qsl(urlsplit(authorize).query))
    back = client.http.post(authorize.split("?")[0], data={**params, "account": email, "decision": "allow"},
                            allow_redirects=False, timeout=30)
    if back.status_code != 302:
        raise StepFailed(f"Google's consent answered {back.status_code}")
    done = client.http.get(back.headers["Location"], allow_redirects=False, timeout=60)
    title = re.search(r"<title>(.*?)</title>", done.text or "", re.S)
    return done.status_code, html.unescape(title.group(1)).strip() if title else "", done.text


def connect_google_ok(client: Client, workspace: str, user: str, email: str) -> dict[str, Any]:
    """Connect and check the slot is ``connected`` with ``email``; returns the slot."""
    status, title, _ = connect_google(client, workspace, user, email)
    slot = client.connection(workspace, user, "google_calendar")
    if status not in (200, 302) or slot["status"] != "connected" or (slot.get("account") or {}).get("upn") != email:
        raise StepFailed(f"google_calendar is {slot['status']} after the callback answered {status} ({title})")
    return slot


# ------------------------------------------------------------------------------------- make smoke
def step_connect(ctx: Any) -> str:
    """Connect the round robin's Google member through Google's consent page."""
    slot = connect_google_ok(ctx.client, ctx.workspace, demo.GOOGLE_USER, demo.GOOGLE_ACCOUNT)
    return f"google_calendar of {demo.GOOGLE_USER} connected as {slot['account']['upn']}"


def step_round_robin(ctx: Any) -> str:
    """Book the demo round robin until the Google member's turn (least recently booked first, the members'
    order breaking ties: at most one booking per member); her Google calendar then invites the invitee."""
    slug = f"{ctx.workspace}-team"
    taken: set[str] = set()
    for n in range(3):
        start = next((s for s in ctx.client.slots(slug, days=21) if s not in taken), None)
        if start is None:
            raise StepFailed(f"no free slot on {slug}")
        taken.add(start)
        invitee = ctx.invitee(f"google{n}")
        booked = ctx.client.book_ok(slug, start, f"Smoke Google {n}", invitee, "Europe/Berlin")
        if booked["hosts"][0]["user"] != demo.GOOGLE_USER:
            continue
        events = wait_google_event(ctx.client, demo.GOOGLE_ACCOUNT, invitee)
        return f"booking {booked['id'][:8]} at {start} went to {demo.GOOGLE_USER}; Google event {events['id'][:10]}"
    raise StepFailed(f"three bookings on {slug}: none went to {demo.GOOGLE_USER} (is her free/busy readable?)")


def wait_google_event(client: Client, email: str, invitee: str, timeout: float = 60) -> dict[str, Any]:
    """The Google stand-in's event of ``email`` that invites ``invitee`` (waiting for the meeting worker)."""
    from devhost.smoke import wait_for

    def find() -> dict[str, Any] | None:
        events = google_sandbox(client, "GET", f"/_sandbox/events?email={email}")["value"]
        return next((e for e in events if any(a.get("email") == invitee for a in e.get("attendees") or [])), None)

    found: dict[str, Any] = wait_for(find, timeout, 0.5, f"the Google event inviting {invitee}")
    return found
