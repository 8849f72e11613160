"""The Google stand-in's HTTP server (stdlib ``ThreadingHTTPServer``) and its Python API."""
from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import urlencode

from devhost.google_contract import GoogleContract, load_contract
from devhost.msstandin.web import BodyError, Request, Response, Router, json_response

from . import sandbox
from .calendar import Calendar, google_error
from .oauth import OAuth
from .state import DEFAULT_ACCOUNTS, Account, State

log = logging.getLogger("devhost.googlestandin")

DEFAULT_CLIENT_ID = "standin-client.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "standin-google-secret-dev-only"
REDACT = ("client_secret", "code_verifier", "refresh_token", "code", "token")
SCOPES = ("openid", "email", "https://www.googleapis.com/auth/calendar.freebusy",
          "https://www.googleapis.com/auth/calendar.events.owned")


@dataclass
class Context:
    """What every endpoint reads: the state, the contract, the clock."""

    state: State
    contract: GoogleContract
    clock: Callable[[], float] = time.time
    base_url: str = ""
    default_scopes: tuple[str, ...] = SCOPES
    routers: dict[str, Router] = field(default_factory=dict)


class App:
    """Routes a request to OAuth, Calendar or the sandbox, checks it against the contract and records it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def handle(self, req: Request) -> Response:
        started = time.time()
        area = ("sandbox" if req.path.startswith("/_sandbox") else
                "calendar" if req.path.startswith("/calendar/v3/") else "oauth")
        email: str | None = None
        try:
            if area == "sandbox":
                return self._route("sandbox", req)[0]
            failed = self._injected(req, area)
            if failed is not None:
                resp = failed
            elif area == "calendar":
                resp, email = self._calendar(req)
            else:
                resp = self._oauth(req)
        except Exception as exc:  # a stand-in bug: say so loudly
            log.error("google stand-in error on %s %s\n%s", req.method, req.path, traceback.format_exc())
            resp = google_error(500, "standInError", f"{type(exc).__name__}: {exc}")
        self._record(req, resp, area, email, started)
        return resp

    def _route(self, name: str, req: Request) -> tuple[Response, dict[str, Any]]:
        route, params, known = self.ctx.routers[name].match(req.method, req.path)
        if route is None:
            return google_error(405 if known else 404, "notFound", f"no route {req.method} {req.path}"), {}
        try:
            return route.handler(self.ctx, req, **params), route.meta
        except BodyError as exc:
            return google_error(400, "parseError", str(exc)), route.meta

    def _injected(self, req: Request, area: str) -> Response | None:
        rule = self.ctx.state.take_failure(req.method, req.path)
        if rule is None:
            return None
        if area == "oauth":
            resp = json_response(rule.status, {"error": rule.reason or "invalid_request",
                                               "error_description": "Injected failure (stand-in sandbox)."})
        else:
            reason = rule.reason or {429: "rateLimitExceeded", 403: "rateLimitExceeded"}.get(rule.status,
                                                                                           "backendError")
            resp = google_error(rule.status, reason, "Injected failure (stand-in sandbox).",
                                domain="usageLimits" if rule.status in (403, 429) else "global")
        if rule.retry_after is not None:
            resp.headers["Retry-After"] = str(rule.retry_after)
        return resp

    def _calendar(self, req: Request) -> tuple[Response, str | None]:
        contract = self.ctx.contract
        method_id = contract.method_for(req.method, req.path)
        if method_id is None:
            return google_error(404, "notFound", "Not Found"), None
        try:
            body = req.json()
        except BodyError as exc:
            return google_error(400, "parseError", str(exc)), None
        problems = contract.check_request(method_id, req.query, body)
        if problems:
            return google_error(400, "invalid", "; ".join(str(p) for p in problems)), None
        resp, _meta = self._route("calendar", req)
        auth = req.header("authorization") or ""
        grant = self.ctx.state.grant_of(auth[7:], self.ctx.clock()) if auth.lower().startswith("bearer ") else None
        if 200 <= resp.status < 300:
            wrong = contract.check_response(method_id, resp.data)
            if wrong:
                log.error("google stand-in answer outside the contract: %s", wrong)
                return google_error(500, "standInContractViolation", "; ".join(str(p) for p in wrong)), None
        return resp, grant.email.lower() if grant else None

    def _oauth(self, req: Request) -> Response:
        resp, _meta = self._route("oauth", req)
        if req.path == "/token" and isinstance(resp.data, dict):
            wrong = self.ctx.contract.check_token_response(resp.data)
            if wrong:
                return google_error(500, "standInContractViolation", "; ".join(str(p) for p in wrong))
        return resp

    def _record(self, req: Request, resp: Response, area: str, email: str | None, started: float) -> None:
        body: Any = None
        try:
            body = req.json() if "json" in (req.header("content-type") or "") else None
        except BodyError:
            body = req.body.decode("utf-8", "replace")
        if body is None and req.body:
            body = {k: ("***" if k in REDACT else v) for k, v in req.form().items() if k not in req.query}
        self.ctx.state.record({
            "time": datetime.fromtimestamp(started, UTC).isoformat().replace("+00:00", "Z"),
            "method": req.method, "path": req.path, "query": {k: ("***" if k in REDACT else v)
                                                             for k, v in req.query.items()},
            "email": email, "status": resp.status, "area": area, "body": body})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GoogleStandIn/1.0"
    timeout = 30
    server: _Server

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

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, _Handler)


class GoogleStandIn:
    """Google's OAuth endpoints and Calendar v3 on ``http://127.0.0.1:PORT`` (see the package doc)."""

    def __init__(self, accounts: Iterable[Mapping[str, str]] = DEFAULT_ACCOUNTS, *, port: int = 0,
                 host: str = "127.0.0.1", client_id: str = DEFAULT_CLIENT_ID,
                 client_secret: str = DEFAULT_CLIENT_SECRET, clock: Callable[[], float] = time.time) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        state = State([Account(a["email"], a.get("name") or a["email"]) for a in accounts],
                      {client_id: client_secret})
        contract = load_contract()
        self.ctx = Context(state, contract, clock)
        oauth, calendar, sandbox_router = Router(), Router(), Router()
        OAuth(state, set(contract.scopes), clock).register(oauth)
        Calendar(state, clock).register(calendar)
        sandbox.register(sandbox_router)
        self.ctx.routers.update(oauth=oauth, calendar=calendar, sandbox=sandbox_router)
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> GoogleStandIn:
        if self._server is None:
            self._server = _Server((self._host, self._port), App(self.ctx))
            self._port = self._server.server_address[1]
            self.ctx.base_url = f"http://{self._host}:{self._port}"
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                            name=f"googlestandin-{self._port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> GoogleStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses (what bookbridge's settings name) ----------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return self.ctx.base_url

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.base_url}/o/oauth2/v2/auth"

    @property
    def token_endpoint(self) -> str:
        return f"{self.base_url}/token"

    @property
    def calendar_base_url(self) -> str:
        return f"{self.base_url}/calendar/v3"

    @property
    def state(self) -> State:
        return self.ctx.state

    # -- sandbox helpers (the same code paths as /_sandbox) ----------------------------------------
    def sandbox(self, method: str, path: str, body: Any = None) -> Any:
        raw = b"" if body is None else json.dumps(body).encode()
        resp = App(self.ctx).handle(Request.build(method, path, {"Content-Type": "application/json"}, raw))
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path} -> {resp.status}: {resp.body.decode(errors='replace')}")
        return resp.data

    def add_account(self, email: str, name: str = "") -> None:
        self.sandbox("POST", "/_sandbox/accounts", {"email": email, "name": name or email})

    def add_outside_event(self, email: str, start: str, end: str, summary: str = "Busy") -> dict[str, Any]:
        body = {"start": start, "end": end, "summary": summary}
        return cast(dict[str, Any], self.sandbox("POST", f"/_sandbox/accounts/{email}/events", body))

    def revoke(self, email: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.sandbox("POST", f"/_sandbox/accounts/{email}/revoke"))

    def tokens(self, email: str, scopes: Iterable[str] | None = None) -> dict[str, str]:
        body: dict[str, Any] = {"email": email}
        if scopes is not None:
            body["scopes"] = list(scopes)
        return cast(dict[str, str], self.sandbox("POST", "/_sandbox/tokens", body))

    def events(self, email: str) -> list[dict[str, Any]]:
        found = self.sandbox("GET", "/_sandbox/events?" + urlencode({"email": email}))
        return cast(list[dict[str, Any]], found["value"])

    def invitations(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.sandbox("GET", "/_sandbox/invitations")["value"])

    def inject_failure(self, path_regex: str, status: int, count: int = 1, *, method: str | None = None,
                       retry_after: int | None = None, reason: str | None = None) -> None:
        self.sandbox("POST", "/_sandbox/failures", {"path_regex": path_regex, "status": status, "count": count,
                                                    "method": method, "retry_after": retry_after, "reason": reason})

    def requests(self, **filters: str) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.sandbox("GET", "/_sandbox/requests?" + urlencode(filters))["value"])

    def reset(self) -> None:
        self.sandbox("POST", "/_sandbox/reset")
