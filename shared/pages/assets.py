"""The static assets of the booking page and the widget (``shared/pages/static/``), served by the app.

Only the files named in :data:`ASSETS` are served (no path from a request ever reaches the file
system). Every asset URL the app writes carries ``?v=<version>``, the hash of all the assets
together: such a URL is cached for a year (``immutable``); any other URL (an old version, no
version, the embed URL ``/api/widget.js``) for a few minutes, revalidated with its ``ETag``.
Assets are public and are loaded cross-origin by the widget (module scripts are fetched with
CORS), so they carry ``Access-Control-Allow-Origin: *``; they never depend on cookies.

Pure standard library: imported by handlers only.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: URL path under which assets are served (``host.json`` route prefix ``api`` + ``static/{name}``).
STATIC_PATH = "/api/static"
#: Placeholder in ``widget.js`` replaced by the asset version when served.
VERSION_PLACEHOLDER = "__BOOKBRIDGE_ASSET_VERSION__"

ASSETS: dict[str, str] = {
    "booking.css": "text/css; charset=utf-8",
    "booking.js": "text/javascript; charset=utf-8",
    "manage.js": "text/javascript; charset=utf-8",
    "page.js": "text/javascript; charset=utf-8",
    "widget.js": "text/javascript; charset=utf-8",
}

LONG_CACHE = "public, max-age=31536000, immutable"
SHORT_CACHE = "public, max-age=300"


@dataclass(frozen=True)
class Asset:
    """One asset as served: its bytes, content type and strong ETag."""

    name: str
    body: bytes
    content_type: str
    etag: str


@dataclass(frozen=True)
class StaticResult:
    """What to answer for an asset request (status 200, 304 or 404)."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


def _raw(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()


@lru_cache(maxsize=1)
def asset_version() -> str:
    """A short hash of every asset's bytes: changes whenever any asset changes."""
    digest = hashlib.sha256()
    for name in sorted(ASSETS):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(_raw(name))
    return digest.hexdigest()[:16]


@cache
def load_asset(name: str) -> Asset | None:
    """The asset called ``name`` (``widget.js`` with its version filled in); ``None`` if unknown."""
    content_type = ASSETS.get(name)
    if content_type is None:
        return None
    body = _raw(name)
    if name == "widget.js":
        body = body.replace(VERSION_PLACEHOLDER.encode(), asset_version().encode())
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Asset(name, body, content_type, etag)


def asset_url(name: str) -> str:
    """Root-relative, versioned URL of an asset (cacheable for a year)."""
    return f"{STATIC_PATH}/{name}?v={asset_version()}"


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = [c.strip() for c in header.split(",")]
    return "*" in candidates or etag in candidates or f"W/{etag}" in candidates


def static_result(name: str, *, version: str | None, if_none_match: str | None) -> StaticResult:
    """The answer to ``GET /api/static/{name}?v={version}``."""
    asset = load_asset(name)
    if asset is None:
        return StaticResult(404, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store",
                                  "X-Content-Type-Options": "nosniff"}, b"Not found")
    cache = LONG_CACHE if version and version == asset_version() else SHORT_CACHE
    headers = {
        "Cache-Control": cache,
        "ETag": asset.etag,
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Content-Type-Options": "nosniff",
    }
    if _etag_matches(if_none_match, asset.etag):
        return StaticResult(304, headers)
    return StaticResult(200, {"Content-Type": asset.content_type, **headers}, asset.body)
