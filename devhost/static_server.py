"""A tiny HTTP server that plays "another site": it serves the widget demo page from its own origin.

``devhost/widget_demo.html`` is served at ``/`` (and ``/widget_demo.html``) with ``{{WIDGET_SRC}}``
replaced by the app's widget URL and ``{{CALENDAR}}`` by a calendar slug (``?calendar=<slug>``
overrides the default). Browsers treat ``http://127.0.0.1:<this port>`` and the app's
``http://127.0.0.1:<app port>`` as different origins, so the widget's API calls are cross-origin:
put :attr:`StaticServer.origin` in ``CORS_ALLOWED_ORIGINS``.

Python (tests)::

    site = StaticServer("http://127.0.0.1:7071/api/widget.js", calendar="intro-call").start()
    page.goto(site.url(calendar="intro-call"))
    site.stop()

Command line::

    python -m devhost.static_server --app http://127.0.0.1:7071 --calendar intro-call --port 8081
"""
from __future__ import annotations

import argparse
import html
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

DEMO_PAGE = Path(__file__).resolve().parent / "widget_demo.html"
LOOPBACK = "127.0.0.1"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "devhost-static"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        if parts.path not in ("/", "/widget_demo.html"):
            self._send(404, b"Not found", "text/plain; charset=utf-8")
            return
        calendar = (parse_qs(parts.query).get("calendar") or [self.server.calendar])[0]
        page = DEMO_PAGE.read_text(encoding="utf-8")
        page = page.replace("{{WIDGET_SRC}}", html.escape(self.server.widget_src, quote=True))
        page = page.replace("{{CALENDAR}}", html.escape(calendar, quote=True))
        self._send(200, page.encode("utf-8"), "text/html; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], widget_src: str, calendar: str) -> None:
        self.widget_src = widget_src
        self.calendar = calendar
        super().__init__(address, _Handler)


class StaticServer:
    """Serves the widget demo page on ``127.0.0.1:<port>`` (port 0: a free one) in a background thread."""

    def __init__(self, widget_src: str, *, calendar: str = "demo", port: int = 0) -> None:
        self._server = _Server((LOOPBACK, port), widget_src, calendar)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="devhost-static", daemon=True)

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``: the origin to allow in CORS_ALLOWED_ORIGINS."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def widget_src(self) -> str:
        """The widget URL written into the page."""
        return self._server.widget_src

    @widget_src.setter
    def widget_src(self, value: str) -> None:
        self._server.widget_src = value

    def url(self, calendar: str | None = None) -> str:
        """The demo page's URL (for ``calendar``, or the default one)."""
        query = f"?{urlencode({'calendar': calendar})}" if calendar else ""
        return f"{self.origin}/{query}"

    def start(self) -> StaticServer:
        """Serve in the background; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port. Idempotent."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> StaticServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Serve the demo page until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m devhost.static_server", description=__doc__.split("\n")[0])
    parser.add_argument("--app", default="http://127.0.0.1:7071", help="base URL of the bookbridge app")
    parser.add_argument("--calendar", default="demo", help="calendar slug shown by default")
    parser.add_argument("--port", type=int, default=8081)
    ns = parser.parse_args(argv)
    server = StaticServer(f"{ns.app.rstrip('/')}/api/widget.js", calendar=ns.calendar, port=ns.port).start()
    print(f"widget demo: {server.url()} (allow {server.origin} in CORS_ALLOWED_ORIGINS)", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set():
        stop.wait(0.5)
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
