"""The HTTP side of the local host: routing, keys, CORS, the admin API and a threaded server.

Requests are served by ``http.server.ThreadingHTTPServer`` on 127.0.0.1. Nothing here logs
request lines, query strings, headers or bodies.
"""
from __future__ import annotations

import contextlib
import hmac
import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
from azure.functions import _abc as azf_abc

from devhost.host_config import HostKeys
from devhost.host_index import FunctionInfo, HttpTriggerInfo
from devhost.host_invoke import Invocation, log_invocation
from devhost.host_routes import RouteTemplate

log = logging.getLogger("devhost.http")
MAX_BODY = 100 * 1024 * 1024  # the Functions host's request size limit
ADMIN_PREFIX = "/admin/"


@dataclass
class Request:
    """An incoming request, already read."""

    method: str
    path: str  # percent-encoded, no query
    query: str
    headers: dict[str, str]
    body: bytes
    url: str


@dataclass
class Response:
    """An outgoing response."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def json(cls, status: int, data: Any) -> Response:
        """A JSON response."""
        return cls(status, [("Content-Type", "application/json; charset=utf-8")], json.dumps(data).encode())

    @classmethod
    def empty(cls, status: int) -> Response:
        """A response without a body."""
        return cls(status)


@dataclass(frozen=True)
class HttpRoute:
    """An HTTP function with its compiled route template."""

    fn: FunctionInfo
    template: RouteTemplate

    @property
    def trigger(self) -> HttpTriggerInfo:
        """The function's HTTP trigger."""
        assert isinstance(self.fn.trigger, HttpTriggerInfo)
        return self.fn.trigger


def from_function_response(value: Any) -> Response:
    """Translate what an HTTP function returned into a response, as the worker does."""
    if value is None:
        return Response.empty(HTTPStatus.NO_CONTENT)
    if isinstance(value, str):
        return Response(200, [("Content-Type", "text/plain; charset=utf-8")], value.encode("utf-8"))
    if isinstance(value, azf_abc.HttpResponse):
        headers = [(k, str(v)) for k, v in value.headers.items()]
        if not any(k.lower() == "content-type" for k, _ in headers):
            mimetype = value.mimetype or "text/plain"
            charset = value.charset or "utf-8"
            headers.append(("Content-Type", f"{mimetype}; charset={charset}" if mimetype.startswith("text/")
                            else mimetype))
        return Response(int(value.status_code), headers, value.get_body() or b"")
    raise TypeError(f"HTTP function returned an unsupported type: {type(value).__name__}")


class HttpDispatcher:
    """Turns a :class:`Request` into a :class:`Response`: admin API or function routes."""

    def __init__(self, routes: list[HttpRoute], prefix: str, keys: HostKeys,
                 execute: Callable[[FunctionInfo, Any], Invocation],
                 admin_invoke: Callable[[str, str], int], cors: tuple[str, ...] = (),
                 cors_credentials: bool = False, list_functions: Callable[[], list[dict[str, Any]]] | None = None,
                 ) -> None:
        """``execute`` runs a function and writes its output bindings; ``admin_invoke`` answers a status;
        ``list_functions`` gives the metadata ``GET /admin/functions`` answers."""
        self._routes = sorted(routes, key=lambda r: r.template.sort_key())
        self._prefix = f"/{prefix}" if prefix else ""
        self._keys, self._execute = keys, execute
        self._admin_invoke = admin_invoke
        self._list_functions = list_functions or (lambda: [])
        self._cors, self._cors_credentials = cors, cors_credentials

    # keys ---------------------------------------------------------------------------------------
    def _presented_key(self, request: Request) -> str:
        for name, value in parse_qsl(request.query, keep_blank_values=True):
            if name == "code":
                return value
        return request.headers.get("x-functions-key", "")

    def authorized(self, request: Request, level: str) -> bool:
        """Whether the request carries a key good enough for ``level`` (anonymous/function/admin)."""
        if level == "anonymous" or not self._keys.enforced:
            return True
        key = self._presented_key(request).encode()
        accepted = [self._keys.master_key] if level == "admin" else [self._keys.function_key, self._keys.master_key]
        return bool(key) and any(k and hmac.compare_digest(key, k.encode()) for k in accepted)

    # CORS ---------------------------------------------------------------------------------------
    def _allowed_origin(self, request: Request) -> str | None:
        origin = request.headers.get("origin")
        if not origin or not self._cors:
            return None
        if "*" in self._cors:
            return origin if self._cors_credentials else "*"
        return origin if origin in self._cors else None

    def _with_cors(self, request: Request, response: Response) -> Response:
        origin = self._allowed_origin(request)
        if origin and not any(k.lower() == "access-control-allow-origin" for k, _ in response.headers):
            response.headers.append(("Access-Control-Allow-Origin", origin))
            response.headers.append(("Vary", "Origin"))
            if self._cors_credentials:
                response.headers.append(("Access-Control-Allow-Credentials", "true"))
        return response

    def _preflight(self, request: Request) -> Response | None:
        if not self._cors or request.method != "OPTIONS" or "access-control-request-method" not in request.headers:
            return None
        response = Response.empty(HTTPStatus.NO_CONTENT)
        if self._allowed_origin(request):
            response.headers.append(("Access-Control-Allow-Methods", request.headers["access-control-request-method"]))
            if "access-control-request-headers" in request.headers:
                response.headers.append(("Access-Control-Allow-Headers",
                                         request.headers["access-control-request-headers"]))
        return self._with_cors(request, response)

    # dispatch -----------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        """Answer one request."""
        if request.path.startswith(ADMIN_PREFIX):
            return self._admin(request)
        preflight = self._preflight(request)
        if preflight is not None:
            return preflight
        return self._with_cors(request, self._function(request))

    def _admin(self, request: Request) -> Response:
        if not self.authorized(request, "admin"):
            return Response.empty(HTTPStatus.UNAUTHORIZED)
        parts = request.path.rstrip("/").split("/")
        if parts[1:] == ["admin", "host", "status"]:
            if request.method != "GET":
                return Response(HTTPStatus.METHOD_NOT_ALLOWED, [("Allow", "GET")])
            return Response.json(200, {"state": "Running"})
        if parts[1:] == ["admin", "functions"]:
            if request.method != "GET":
                return Response(HTTPStatus.METHOD_NOT_ALLOWED, [("Allow", "GET")])
            return Response.json(200, self._list_functions())
        if len(parts) == 4 and parts[2] == "functions":
            if request.method != "POST":
                return Response(HTTPStatus.METHOD_NOT_ALLOWED, [("Allow", "POST")])
            try:
                payload = json.loads(request.body or b"{}")
            except ValueError:
                return Response.empty(HTTPStatus.BAD_REQUEST)
            data = payload.get("input", "") if isinstance(payload, dict) else ""
            text = data if isinstance(data, str) else json.dumps(data)
            return Response.empty(self._admin_invoke(parts[3], text))
        return Response.empty(HTTPStatus.NOT_FOUND)

    def _function(self, request: Request) -> Response:
        path = request.path
        if self._prefix:
            if not (path == self._prefix or path.startswith(self._prefix + "/")):
                return Response.empty(HTTPStatus.NOT_FOUND)
            path = path[len(self._prefix):]
        allowed: set[str] = set()
        for route in self._routes:
            values = route.template.match(path)
            if values is None:
                continue
            if request.method not in route.trigger.methods:
                allowed.update(route.trigger.methods)
                continue
            if not self.authorized(request, route.trigger.auth_level):
                return Response.empty(HTTPStatus.UNAUTHORIZED)
            return self._invoke(route, request, values)
        if allowed:
            return Response(HTTPStatus.METHOD_NOT_ALLOWED, [("Allow", ", ".join(sorted(allowed)))])
        return Response.empty(HTTPStatus.NOT_FOUND)

    def _invoke(self, route: HttpRoute, request: Request, values: dict[str, str]) -> Response:
        params: dict[str, str] = {}
        for name, value in parse_qsl(request.query, keep_blank_values=True):
            params[name] = f"{params[name]},{value}" if name in params else value
        http_request = func.HttpRequest(request.method, request.url, headers=request.headers, params=params,
                                        route_params=values, body=request.body)
        invocation = self._execute(route.fn, http_request)
        response: Response | None = None
        if invocation.ok:
            try:
                response = from_function_response(invocation.value if route.fn.http_return else None)
            except TypeError as exc:  # an unusable return value fails the invocation
                invocation.error = exc
        if response is None:
            response = Response(HTTPStatus.INTERNAL_SERVER_ERROR, [("Content-Type", "text/plain; charset=utf-8")],
                                b"Internal Server Error")
        log_invocation(route.fn, invocation, method=request.method, route=route.template.template,
                       status=response.status)
        return response


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    request_queue_size = 1024  # listen backlog: bursts of hundreds of connections are queued, never reset

    def __init__(self, address: tuple[str, int], dispatcher: HttpDispatcher) -> None:
        self.dispatcher = dispatcher
        self.closing = False
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def wake_idle_connections(self) -> None:
        """End keep-alive connections waiting for a next request (responses in progress complete)."""
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RD)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "devhost"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - never log request lines
        return

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(Response.empty(HTTPStatus.BAD_REQUEST))
            return
        if body is None:
            self.close_connection = True
            self._send(Response.empty(HTTPStatus.REQUEST_ENTITY_TOO_LARGE))
            return
        parts = urlsplit(self.path)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        # Like Azure's front end: the peer is appended to X-Forwarded-For (with its port) and is X-Client-IP.
        peer_ip, peer_port = str(self.client_address[0]), self.client_address[1]
        peer = f"[{peer_ip}]:{peer_port}" if ":" in peer_ip else f"{peer_ip}:{peer_port}"
        headers["x-forwarded-for"] = f"{headers['x-forwarded-for']}, {peer}" if headers.get("x-forwarded-for") else peer
        headers["x-client-ip"] = peer_ip
        host = headers.get("host") or f"127.0.0.1:{self.server.server_address[1]}"
        request = Request(self.command.upper(), parts.path or "/", parts.query, headers, body,
                          f"http://{host}{self.path}")
        try:
            response = self.server.dispatcher.dispatch(request)
        except Exception:  # noqa: BLE001 - a host bug must not kill the connection silently
            log.exception("devhost failed to answer a %s request", request.method)
            response = Response.empty(HTTPStatus.INTERNAL_SERVER_ERROR)
        self._send(response)

    def _send(self, response: Response) -> None:
        if self.server.closing:
            self.close_connection = True
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        if response.status >= 200 and response.status not in (204, 304):
            self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and response.body and response.status not in (204, 304):
            self.wfile.write(response.body)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)


class HttpServer:
    """A threaded HTTP server on 127.0.0.1 in a background thread."""

    def __init__(self, dispatcher: HttpDispatcher, port: int = 7071, host: str = "127.0.0.1") -> None:
        self._server = _Server((host, port), dispatcher)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="devhost-http", daemon=True)

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, end idle keep-alive connections and join every request thread."""
        self._server.closing = True
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.wake_idle_connections()
        self._server.server_close()
