"""A small Microsoft Graph client over ``requests``: one place where Graph's answers become our errors.

Callers pass an access token per call (tokens are per connection). Feature modules
(``graph_calendar``, ``graph_meetings``) build on :meth:`GraphClient.request`.
"""
from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import Any

from shared.domain.backoff import default_backoff
from shared.errors import GraphRejected, GraphUnauthorized, NotFound, TeamsUnavailable, Throttled, TransientError

log = logging.getLogger("bookbridge.graph")

THROTTLE_STATUSES = frozenset({429, 503, 504})


def retry_after_seconds(headers: Any, attempt: int = 1, *, cap: float = 300.0) -> float:
    """``Retry-After`` in seconds, else exponential back-off with jitter for ``attempt`` (1-based)."""
    raw = (headers or {}).get("Retry-After") if headers is not None else None
    if raw:
        try:
            return max(0.0, min(float(raw), cap))
        except ValueError:
            pass
    return default_backoff(attempt, cap=cap)


class GraphClient:
    """Sends requests to Graph and translates failures into ``shared.errors``."""

    def __init__(self, base_url: str, session: Any, *, timeout: float = 30.0, limiter: Any = None,
                 free_busy_cache: Any = None) -> None:
        self.base_url = (base_url or "https://graph.microsoft.com/v1.0").rstrip("/")
        self.session = session
        self.timeout = timeout
        #: ``shared.adapters.mailbox_limiter.MailboxLimiter``: at most 4 requests in flight per mailbox (rule 27)
        self.limiter = limiter
        #: ``shared.adapters.mailbox_limiter.FreeBusyCache``: dropped for a mailbox on every write to its events
        self.free_busy_cache = free_busy_cache

    def request(
        self,
        method: str,
        path: str,
        token: str,
        *,
        json_body: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        teams_call: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        """Send one request; returns ``(status, json)`` for 2xx, raises our errors otherwise.

        ``teams_call`` marks requests whose 403 means the account cannot create Teams meetings.
        """
        import requests

        url = path if path.startswith("https://") else f"{self.base_url}/{path.lstrip('/')}"
        hdrs = {"Authorization": f"Bearer {token}", "Accept": "application/json", **(headers or {})}
        mailbox = self.limiter.key_for(token) if self.limiter is not None else None
        if self.free_busy_cache is not None and writes_calendar(method, path):
            self.free_busy_cache.drop(mailbox)  # before the write: no answer from before it is served after
        try:
            with self.limiter.slot(mailbox) if self.limiter is not None else nullcontext():
                resp = self.session.request(
                    method, url, json=json_body, params=params, headers=hdrs, timeout=self.timeout
                )
        except requests.RequestException as exc:
            raise TransientError(f"Graph unreachable: {type(exc).__name__}") from None
        finally:
            if self.free_busy_cache is not None and writes_calendar(method, path):
                self.free_busy_cache.drop(mailbox)  # and after it: a read racing the write is not kept
        status = resp.status_code
        log.info("graph %s %s -> %s", method, _path_only(path), status)
        if 200 <= status < 300:
            if status == 204 or not resp.content:
                return status, {}
            try:
                return status, resp.json()
            except ValueError:
                return status, {}
        code, message = _graph_error(resp)
        if status in THROTTLE_STATUSES:
            raise Throttled(f"Graph answered {status}", retry_after=retry_after_seconds(resp.headers))
        if status == 401:
            raise GraphUnauthorized(f"Graph refused the access token ({code})")
        if status == 403 and teams_call:
            raise TeamsUnavailable(
                "This Microsoft account cannot create Teams meetings (no Teams licence, or Teams meetings "
                f"are not allowed by its organisation): {code}"
            )
        if status == 404:
            raise NotFound(f"Graph: {code or 'not found'}")
        if status >= 500:
            raise TransientError(f"Graph answered {status} ({code})", retry_after=retry_after_seconds(resp.headers))
        raise GraphRejected(f"Graph refused the request: {code}: {message}", status=status, graph_code=code)


def writes_calendar(method: str, path: str) -> bool:
    """True for a request that changes a mailbox's calendar (an event written, moved, cancelled or deleted)."""
    clean = _path_only(path).lower()
    return method.upper() != "GET" and "/events" in clean


def _graph_error(resp: Any) -> tuple[str, str]:
    try:
        err = resp.json().get("error", {})
        return str(err.get("code", "")), str(err.get("message", ""))[:300]
    except (ValueError, AttributeError):
        return "", ""


def _path_only(path: str) -> str:
    """A path for logs: no query string (it may carry personal data)."""
    return path.split("?", 1)[0]
