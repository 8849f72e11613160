"""The https server (stdlib ``ThreadingHTTPServer`` + ``ssl``) and the :class:`StandIn` Python API."""
from __future__ import annotations

import json
import logging
import shutil
import socket
import ssl
import tempfile
import threading
import time
import traceback
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

from . import graph, identity, sandbox, sandbox_inbound
from .certs import create_server_tls
from .context import Context
from .graph_common import error_response
from .idtokens import SigningKey
from .state import Account, Config, State, account_from_dict, load_accounts
from .web import BodyError, Request, Response, Router, json_response

log = logging.getLogger("devhost.msstandin")

DEFAULT_CLIENT_ID = "cd270759-73d8-498c-9317-19e8b0a6c38b"
DEFAULT_CLIENT_SECRET = "standin-client-secret-dev-only"
REDACT = ("client_secret", "code_verifier", "refresh_token", "code", "client_assertion", "password")

IDENTITY_ROUTER = Router(ignore_case=True)
identity.register(IDENTITY_ROUTER)
SANDBOX_ROUTER = Router()
sandbox.register(SANDBOX_ROUTER)
sandbox_inbound.register(SANDBOX_ROUTER)


class App:
    """Routes a :class:`Request` to the identity, Graph or sandbox endpoints and records it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def handle(self, req: Request) -> Response:
        """Serve one request; unexpected errors become 500s (logged)."""
        started = time.time()
        path = req.path
        low = path.lower()
        try:
            if low.startswith("/_sandbox") or low.startswith("/meet/"):
                return self._plain(SANDBOX_ROUTER, req)
            if low == "/v1.0/$batch" and req.method == "POST":
                resp, upn = graph.batch(self.ctx, req, self.record)
            elif low.startswith("/v1.0/"):
                resp, upn = graph.dispatch(self.ctx, req, path[len("/v1.0"):])
            else:
                resp, upn = self._identity(req), None
        except Exception as exc:  # a stand-in bug: say so loudly
            log.error("stand-in error on %s %s\n%s", req.method, path, traceback.format_exc())
            resp, upn = error_response(500, "StandInInternalError", f"{type(exc).__name__}: {exc}"), None
        self.record(req, path, resp, upn, started, "graph" if low.startswith("/v1.0/") else "identity")
        return resp

    def _plain(self, router: Router, req: Request) -> Response:
        route, params, known = router.match(req.method, req.path)
        if route is None:
            return json_response(405 if known else 404, {"error": {"code": "SandboxNotFound",
                                                                   "message": f"no route {req.method} {req.path}"}})
        try:
            return route.handler(self.ctx, req, **params)
        except BodyError as exc:
            return json_response(400, {"error": {"code": "SandboxBadRequest", "message": str(exc)}})

    def _identity(self, req: Request) -> Response:
        latency = self.ctx.state.config.latency_ms
        if latency > 0:
            time.sleep(latency / 1000)
        rule = self.ctx.state.take_failure(req.method, req.path)
        if rule is not None:
            error = rule.code or ("temporarily_unavailable" if rule.status >= 429 else "invalid_request")
            resp = identity.aad_error(rule.status, error, 50196 if rule.status >= 429 else 90000,
                                      rule.message or "Injected failure from the stand-in sandbox.")
            if rule.retry_after is not None:
                resp.headers["Retry-After"] = str(rule.retry_after)
            return resp
        return self._plain(IDENTITY_ROUTER, req)

    def record(self, req: Request, path: str, resp: Response, upn: str | None, started: float, area: str) -> None:
        """Append one entry to the request log (secrets in token requests are redacted)."""
        body: Any = None
        try:
            body = req.json() if "json" in (req.header("content-type") or "") else None
        except BodyError:
            body = req.body.decode("utf-8", "replace")
        if body is None and req.body:
            form = req.form()
            body = {k: ("***" if k in REDACT else v) for k, v in form.items() if k not in req.query}
        self.ctx.state.record({
            "time": datetime.fromtimestamp(started, UTC).isoformat().replace("+00:00", "Z"),
            "method": req.method, "path": path, "query": dict(req.query), "upn": upn, "status": resp.status,
            "area": area, "body": body, "duration_ms": round((time.time() - started) * 1000, 1)})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MicrosoftStandIn/1.0"
    timeout = 30
    server: _TLSServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        req = Request.build(self.command, self.path, {k: v for k, v in self.headers.items()}, body)
        resp = self.server.app.handle(req)
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD" and resp.body:
            self.wfile.write(resp.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.address_string(), *args)


class _TLSServer(ThreadingHTTPServer):
    """TLS handshakes run in each connection's thread, so a slow client never blocks accept()."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext, app: App) -> None:
        self.tls, self.app = tls, app
        self._conns: set[ssl.SSLSocket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, _Handler)

    def close_connections(self) -> None:
        """Shut down kept-alive client connections (called on stop)."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with self._conns_lock:
            self._conns.add(conn)
        try:
            conn.settimeout(_Handler.timeout)
            self.RequestHandlerClass(conn, client_address, self)  # type: ignore[arg-type]
        except (ssl.SSLError, OSError):
            pass
        finally:
            with self._conns_lock:
                self._conns.discard(conn)
            conn.close()


class StandIn:
    """A local Microsoft identity platform + Graph stand-in on https://127.0.0.1:PORT.

    ``accounts``: fixture path, or Account objects / dicts (default: ``accounts.json``).
    ``clients``: extra application registrations ``{client_id: secret}`` (None: public client).
    """

    def __init__(self, accounts: str | Path | Iterable[Account | Mapping[str, Any]] | None = None, *,
                 latency_ms: int = 0, max_concurrent_per_mailbox: int = 4, port: int = 0,
                 cert_dir: str | Path | None = None, host: str = "127.0.0.1",
                 client_id: str = DEFAULT_CLIENT_ID, client_secret: str | None = DEFAULT_CLIENT_SECRET,
                 clients: Mapping[str, str | None] | None = None, contract_path: str | Path | None = None) -> None:
        from devhost.graph_contract import GraphContract, load_contract

        if accounts is None or isinstance(accounts, (str, Path)):
            account_list = load_accounts(accounts)
        else:
            account_list = [a if isinstance(a, Account) else account_from_dict(dict(a)) for a in accounts]
        self.client_id, self.client_secret = client_id, client_secret
        config = Config(latency_ms=latency_ms, max_concurrent_per_mailbox=max_concurrent_per_mailbox)
        state = State(account_list, {client_id: client_secret, **(clients or {})}, config)
        contract = GraphContract.load(contract_path) if contract_path else load_contract()
        self.ctx = Context(state, SigningKey(), contract)
        self._host, self._port = host, port
        self._own_cert_dir = cert_dir is None
        self.cert_dir = Path(cert_dir) if cert_dir is not None else Path(tempfile.mkdtemp(prefix="msstandin-"))
        self._server: _TLSServer | None = None
        self._thread: threading.Thread | None = None
        self.ca_bundle_path: Path | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> StandIn:
        """Generate certificates, bind (port 0: a free port) and serve in a background thread."""
        if self._server is not None:
            return self
        tls = create_server_tls(self.cert_dir)
        self.ca_bundle_path = tls.ca_bundle_path
        server = _TLSServer((self._host, self._port), tls.context, App(self.ctx))
        self._server = server
        self._port = server.server_address[1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        self.ctx.base_url = f"https://{host}:{self._port}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"msstandin-{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (and the temporary cert folder if it was ours)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
        if self._own_cert_dir:
            shutil.rmtree(self.cert_dir, ignore_errors=True)

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        return self._port

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:PORT``."""
        return self.ctx.base_url

    @property
    def authority_host(self) -> str:
        """The identity host (same as :attr:`base_url`); MSAL authority = ``authority_host + "/organizations"``."""
        return self.ctx.base_url

    @property
    def authority(self) -> str:
        """``{authority_host}/organizations``."""
        return f"{self.ctx.base_url}/organizations"

    @property
    def graph_base_url(self) -> str:
        """``{base_url}/v1.0``."""
        return self.ctx.graph_base_url

    @property
    def state(self) -> State:
        """The live state (tests may inspect it; hold ``state.lock`` while doing so)."""
        return self.ctx.state

    @property
    def accounts(self) -> list[Account]:
        """The test accounts."""
        return list(self.ctx.state.accounts.values())

    # -- sandbox helpers (same code paths as the /_sandbox/ API) -----------------------------------
    def sandbox(self, method: str, path: str, body: Any = None) -> Any:  # JSON of the endpoint
        """Call a ``/_sandbox/...`` endpoint in-process; returns its JSON (raises on 4xx/5xx)."""
        raw = b"" if body is None else json.dumps(body).encode()
        req = Request.build(method, path, {"Content-Type": "application/json"}, raw)
        resp = App(self.ctx).handle(req)
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path} -> {resp.status}: {resp.body.decode(errors='replace')}")
        return resp.data

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change realism knobs (``latency_ms``, ``max_concurrent_per_mailbox``, ``admin_consent``...)."""
        return cast(dict[str, Any], self.sandbox("POST", "/_sandbox/config", knobs))

    def reset(self) -> None:
        """Forget events, meetings, tokens, failures and the log."""
        self.sandbox("POST", "/_sandbox/reset")

    def inject_failure(self, path_regex: str, status: int, count: int = 1, *, method: str | None = None,
                       retry_after: int | None = None, code: str | None = None) -> dict[str, Any]:
        """Fail the next ``count`` requests matching ``path_regex`` (full path, e.g. ``/v1.0/me/events``)."""
        rule = {"path_regex": path_regex, "status": status, "count": count, "method": method,
                "retry_after": retry_after, "code": code}
        return cast(dict[str, Any], self.sandbox("POST", "/_sandbox/failures", rule))

    def revoke(self, upn: str, reason: str = "revoked") -> dict[str, Any]:
        """Revoke an account's tokens (``reason``: revoked | expired | inactive | consent)."""
        return cast(dict[str, Any], self.sandbox("POST", f"/_sandbox/accounts/{upn}/revoke", {"reason": reason}))

    def add_outside_event(self, upn: str, start: str, end: str, show_as: str = "busy",
                          subject: str | None = None) -> dict[str, Any]:
        """Put an event made outside bookbridge on an account's primary calendar (UTC ISO times)."""
        body: dict[str, Any] = {"start": start, "end": end, "showAs": show_as}
        if subject is not None:
            body["subject"] = subject
        return cast(dict[str, Any], self.sandbox("POST", f"/_sandbox/accounts/{upn}/events", body))

    def add_calendar(self, upn: str, name: str, providers: Iterable[str] = ("teamsForBusiness",)) -> str:
        """``POST /_sandbox/accounts/{upn}/calendars``: a new calendar of the mailbox; returns its id."""
        body = {"name": name, "allowedOnlineMeetingProviders": list(providers)}
        return str(self.sandbox("POST", f"/_sandbox/accounts/{upn}/calendars", body)["id"])

    def events(self, upn: str) -> dict[str, Any]:
        """``GET /_sandbox/events?upn=``."""
        return cast(dict[str, Any], self.sandbox("GET", "/_sandbox/events?" + urlencode({"upn": upn})))

    def requests(self, **filters: str) -> list[dict[str, Any]]:
        """Recorded requests (filters: upn, method, path_regex)."""
        return cast(list[dict[str, Any]], self.sandbox("GET", "/_sandbox/requests?" + urlencode(filters))["value"])

    def access_token(self, upn: str, scopes: Iterable[str] | None = None) -> str:
        """A Graph access token for ``upn`` without the sign-in flow."""
        body: dict[str, Any] = {"upn": upn}
        if scopes is not None:
            body["scopes"] = list(scopes)
        return str(self.sandbox("POST", "/_sandbox/tokens", body)["access_token"])


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port (prefer ``port=0`` where possible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
