"""Minimal request/response/router types shared by the stand-in's endpoint modules."""
from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode


class BodyError(ValueError):
    """The request body is not what the endpoint can read (bad JSON, wrong content type)."""


@dataclass
class Request:
    """One HTTP request: path without query, first query values, lower-cased headers, raw body."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def build(cls, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Request:
        """From a request line target (``/a/b?x=1``) and headers."""
        path, _, qs = target.partition("?")
        query: dict[str, str] = {}
        for k, v in parse_qsl(qs, keep_blank_values=True):
            query.setdefault(k, v)
        return cls(method.upper(), path or "/", query, {k.lower(): v for k, v in headers.items()}, body)

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """The body as JSON (``None`` when empty); raises :class:`BodyError`."""
        if not self.body.strip():
            return None
        ctype = (self.header("content-type") or "").lower()
        if "json" not in ctype:
            raise BodyError(f"Content-Type '{ctype or 'none'}' is not supported for a JSON body; "
                            "send Content-Type: application/json.")
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BodyError("Unable to read JSON request payload. Please ensure Content-Type header is set "
                            f"and payload is of valid JSON format. ({exc})") from exc

    def form(self) -> dict[str, str]:
        """Query parameters merged with an urlencoded body (body wins)."""
        merged = dict(self.query)
        ctype = (self.header("content-type") or "").lower()
        if self.body and "application/x-www-form-urlencoded" in ctype:
            merged.update(dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)))
        return merged


@dataclass
class Response:
    """One HTTP response; ``data`` keeps the JSON value for recording and ``$batch``."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    data: Any = None


def json_response(status: int, data: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response (``data is None`` -> empty body)."""
    hdrs = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    body = b"" if data is None else json.dumps(data).encode("utf-8")
    return Response(status, body, hdrs, data)


def html_response(status: int, page: str, headers: Mapping[str, str] | None = None) -> Response:
    """An HTML response."""
    return Response(status, page.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8", **(headers or {})})


def redirect(location: str) -> Response:
    """A 302 redirect."""
    return Response(302, b"", {"Location": location, "Cache-Control": "no-store"})


def with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` appended to its query string."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}{urlencode(params)}"


def esc(text: object) -> str:
    """HTML-escape a value."""
    return html.escape(str(text), quote=True)


def page(title: str, body_html: str) -> str:
    """A small, self-contained HTML page."""
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)}</title><style>body{{font-family:system-ui,sans-serif;max-width:40rem;"
        "margin:2rem auto;padding:0 1rem}form{margin:.5rem 0}button{padding:.4rem .8rem}"
        ".note{color:#555;font-size:.9rem}</style></head>"
        f"<body><h1>{esc(title)}</h1>{body_html}</body></html>"
    )


Handler = Callable[..., Response]


@dataclass
class Route:
    """A method, a compiled path pattern and the handler it calls with the named groups."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    meta: dict[str, Any] = field(default_factory=dict)


class Router:
    """Ordered list of routes; the first match wins. Patterns are full-match regexes over the raw path;
    captured values are percent-decoded (``/me/events/AAMk%3D`` -> ``AAMk=``)."""

    def __init__(self, *, ignore_case: bool = False) -> None:
        self.routes: list[Route] = []
        self._flags = re.IGNORECASE if ignore_case else 0

    def add(self, methods: str, pattern: str, handler: Handler, **meta: Any) -> None:
        """Register ``handler`` for space-separated ``methods`` on ``pattern``."""
        compiled = re.compile(pattern, self._flags)
        for method in methods.split():
            self.routes.append(Route(method.upper(), compiled, handler, meta))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """``(route, params, path_known)``; ``path_known`` tells 405 from 404 when route is None."""
        path_known = False
        for route in self.routes:
            m = route.pattern.fullmatch(path)
            if not m:
                continue
            path_known = True
            if route.method == method.upper():
                return route, {k: unquote(v) for k, v in m.groupdict().items() if v is not None}, True
        return None, {}, path_known
