"""Webhooks end to end: a real HTTP receiver on loopback, the local host, Azurite and the Microsoft stand-in.

A receiver subscribed to ``booking.created`` and ``meeting_link.created`` gets each once with a valid
signature (checked with the snippet of docs/webhooks.md); a receiver answering 500 gets retries while the
booking is unaffected; a forged signature fails the documented verification.
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devhost.smoke import Client
from tests.e2e.conftest import around_the_clock_calendar

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECRET = "e2e-webhook-secret-0123456789"


class Receiver:
    """An HTTP server on loopback that keeps every POST and answers ``/ok`` 200 and ``/fail`` 500."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(200 if self.path == "/ok" else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def on(self, path: str) -> list[dict[str, Any]]:
        return [r for r in list(self.received) if r["path"] == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def verify() -> Any:
    section = DOC.read_text(encoding="utf-8").split("## Verifying a signature", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.S)
    assert snippet is not None
    namespace: dict[str, Any] = {}
    exec(compile(snippet.group(1), str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify_bookbridge_signature"]


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _types(received: list[dict[str, Any]]) -> list[str]:
    return sorted(json.loads(r["body"])["type"] for r in received)


def test_signed_events_once_each_retries_for_a_failing_receiver_and_the_booking_unaffected(
        client: Client, new_workspace: Any, receiver: Receiver, verify: Any) -> None:
    ws = new_workspace("hooks")
    host = ws.user("host")
    slug = ws.calendar("hooks", around_the_clock_calendar(host))
    client.connect_ok(ws.id, host, "teams", "bob@contoso.example")
    ok = client.mgmt("PUT", f"/workspaces/{ws.id}/webhooks/crm",
                     json={"url": receiver.url + "/ok", "events": ["booking.created", "meeting_link.created"],
                           "secret": SECRET})
    assert ok.status_code == 201, ok.text
    assert "secret" not in ok.json() and SECRET not in ok.text
    failing = client.mgmt("PUT", f"/workspaces/{ws.id}/webhooks/broken",
                          json={"url": receiver.url + "/fail", "events": ["booking.created"], "secret": SECRET})
    assert failing.status_code == 201, failing.text
    bad = client.mgmt("PUT", f"/workspaces/{ws.id}/webhooks/bad",
                      json={"url": receiver.url, "events": ["booking.deleted"], "secret": SECRET})
    assert bad.status_code == 422 and bad.json()["error"]["field"].startswith("events")

    start = client.slots(slug, days=2, start=datetime.now(UTC).date() + timedelta(days=1))[0]
    booking = client.book_ok(slug, start, "Ivy Invitee", f"ivy@{ws.id}.example")
    view = client.wait_link_status(booking, ("created",), timeout=60)  # the failing receiver is not in the way
    assert view["status"] == "confirmed"

    _wait(lambda: len(receiver.on("/ok")) >= 2, 60, "booking.created and meeting_link.created")
    _wait(lambda: len(receiver.on("/fail")) >= 2, 90, "a retry of the failing receiver")
    time.sleep(2)  # a duplicate would arrive within the host's polling interval
    delivered = receiver.on("/ok")
    assert _types(delivered) == ["booking.created", "meeting_link.created"]
    bodies = [json.loads(r["body"]) for r in delivered]
    assert len({b["id"] for b in bodies}) == 2
    assert {b["data"]["booking"]["id"] for b in bodies} == {booking["id"]}
    link_event = next(b for b in bodies if b["type"] == "meeting_link.created")
    assert link_event["data"]["booking"]["meeting_url"] == view["meeting_url"]
    for r in delivered:
        assert verify(r["headers"]["Bookbridge-Signature"], r["body"], SECRET) is True
        forged = f"t={int(time.time())},v1={'f' * 64}"
        assert verify(forged, r["body"], SECRET) is False
        assert verify(r["headers"]["Bookbridge-Signature"], r["body"] + b" ", SECRET) is False

    attempts = receiver.on("/fail")
    assert {json.loads(a["body"])["id"] for a in attempts} == {bodies[0]["id"] if bodies[0]["type"] ==
                                                              "booking.created" else bodies[1]["id"]}
    listed = client.mgmt("GET", f"/workspaces/{ws.id}/webhooks/broken/deliveries")
    assert listed.status_code == 200
    outcomes = [(d["attempt"], d["status_code"], d["outcome"]) for d in listed.json()["deliveries"]]
    assert outcomes[-2:] == [(2, 500, "retrying"), (1, 500, "retrying")]
    assert client.booking(booking["id"], booking["manage_token"])["link_status"] == "created"
    ok_listed = client.mgmt("GET", f"/workspaces/{ws.id}/webhooks/crm/deliveries").json()["deliveries"]
    assert sorted(d["outcome"] for d in ok_listed) == ["delivered", "delivered"]

    assert client.mgmt("DELETE", f"/workspaces/{ws.id}/webhooks/broken").status_code == 204
    assert client.mgmt("GET", f"/workspaces/{ws.id}/webhooks/broken").status_code == 404
