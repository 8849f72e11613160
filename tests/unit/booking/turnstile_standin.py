"""A local stand-in of Cloudflare Turnstile's siteverify endpoint for ``responses`` (never the network).

It follows Cloudflare's "Testing" page of the Turnstile docs (developers.cloudflare.com/turnstile/
troubleshooting/testing/): the dummy secret ``1x0000000000000000000000000000000AA`` always passes,
``2x0000000000000000000000000000000AA`` always fails, ``3x0000000000000000000000000000000AA`` answers
that the token was already spent; dummy secrets accept only the dummy token the test site keys hand out
(``XXXX.DUMMY.TOKEN.XXXX``). As siteverify does: the request is a form POST with ``secret`` and
``response`` (``remoteip`` optional); a missing response is ``missing-input-response``, an unknown secret
``invalid-input-secret``; the answer is JSON with ``success`` and ``error-codes``.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

SITEVERIFY = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
SITE_KEY_PASSES = "1x00000000000000000000AA"  # the test site key whose (visible) widget always passes
ALWAYS_PASSES = "1x0000000000000000000000000000000AA"
ALWAYS_FAILS = "2x0000000000000000000000000000000AA"
ALREADY_SPENT = "3x0000000000000000000000000000000AA"
DUMMY_TOKEN = "XXXX.DUMMY.TOKEN.XXXX"


@dataclass
class SiteverifyStandIn:
    """``responses`` callback; ``calls`` keeps each form received."""

    calls: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        ctype = request.headers.get("Content-Type", "")
        if "application/x-www-form-urlencoded" not in ctype and "application/json" not in ctype:
            return 400, {}, "bad request"
        raw = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        if "json" in ctype:
            form = {k: str(v) for k, v in json.loads(raw).items()}
        else:
            form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        self.calls.append(form)
        secret, token = form.get("secret", ""), form.get("response", "")
        if not token:
            return self._answer(False, "missing-input-response")
        if secret == ALWAYS_FAILS:
            return self._answer(False, "invalid-input-response")
        if secret == ALREADY_SPENT:
            return self._answer(False, "timeout-or-duplicate")
        if secret != ALWAYS_PASSES:
            return self._answer(False, "invalid-input-secret")
        if token != DUMMY_TOKEN:
            return self._answer(False, "invalid-input-response")
        return 200, {"Content-Type": "application/json"}, json.dumps({
            "success": True, "challenge_ts": "2026-11-23T08:00:00.000Z", "hostname": "example.com",
            "error-codes": [], "action": "", "cdata": ""})

    @staticmethod
    def _answer(success: bool, code: str) -> tuple[int, dict[str, str], str]:
        return 200, {"Content-Type": "application/json"}, json.dumps({"success": success, "error-codes": [code]})

    def install(self, rsps: Any) -> SiteverifyStandIn:
        rsps.add_callback("POST", SITEVERIFY, callback=self)
        return self


@contextmanager
def serve(standin: SiteverifyStandIn | None = None) -> Iterator[tuple[str, SiteverifyStandIn]]:
    """The same stand-in as a local HTTP server (for the local Functions host): ``(siteverify URL, stand-in)``."""
    answer = standin or SiteverifyStandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            if self.path != "/turnstile/v0/siteverify":
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, text = answer(SimpleNamespace(headers=self.headers, body=body))
            data = text.encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/turnstile/v0/siteverify", answer
    finally:
        server.shutdown()
        server.server_close()
