"""The webhook sender connects to the address the SSRF check approved, never to a fresh DNS answer (DNS
rebinding), while the request still names the receiver: ``Host`` header, TLS server name and certificate host
check. Real receivers on loopback (http, and https with a test CA from trustme); the receiver's name is in the
reserved ``.test`` domain, which no resolver answers, so a request that reached it was not resolved again."""
from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trustme

from shared.adapters.webhook_sender import WebhookSender

NAME = "hooks.rebind.test"


class _Receiver(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length") or 0)
        _Receiver.seen.append({"host": self.headers.get("Host", ""), "body": self.rfile.read(length).decode()})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def receiver(context: ssl.SSLContext | None = None) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _fresh() -> None:
    _Receiver.seen = []


def test_a_post_goes_to_the_checked_address_with_the_receivers_host_header() -> None:
    with receiver() as port:
        sender = WebhookSender()
        assert sender.resolve(NAME, port) == []  # the name resolves nowhere: only the pinned address reaches it
        answer = sender.post(f"http://{NAME}:{port}/hook", b'{"id":"evt_1"}', {"Content-Type": "application/json"},
                             address="127.0.0.1")
    assert answer.status == 204, answer
    assert _Receiver.seen == [{"host": f"{NAME}:{port}", "body": '{"id":"evt_1"}'}]


def test_without_the_checked_address_the_name_is_resolved_and_fails_here() -> None:
    with receiver() as port:
        answer = WebhookSender().post(f"http://{NAME}:{port}/hook", b"{}", {})
    assert answer.status is None and answer.error == "ConnectionError" and _Receiver.seen == []


def test_https_to_the_checked_address_still_checks_the_receivers_certificate(tmp_path) -> None:
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    ports = []
    for cert_name, expected in ((NAME, 204), ("someone-else.test", None)):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(cert_name).configure_cert(context)
        with receiver(context) as port:
            answer = WebhookSender(verify=str(bundle)).post(f"https://{NAME}:{port}/hook", b"{}", {},
                                                            address="127.0.0.1")
        ports.append(port)
        assert answer.status == expected, (cert_name, answer)
    assert answer.error == "SSLError"  # a certificate for another name is refused: the host name is checked
    assert [s["host"] for s in _Receiver.seen] == [f"{NAME}:{ports[0]}"]  # SNI/Host named the receiver
