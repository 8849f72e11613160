"""``/_sandbox``: the Google stand-in's own test controls (never part of Google's API).

``GET|POST /_sandbox/accounts`` (list, add ``{"email", "name"}``), ``POST /_sandbox/accounts/{email}/events``
(an event made outside bookbridge: ``{"start", "end", "summary"?, "transparency"?}``),
``POST /_sandbox/accounts/{email}/revoke`` (every grant of the account: refresh gives ``invalid_grant``),
``POST /_sandbox/tokens`` (``{"email", "scopes"}``: an access token without the sign-in), ``GET /_sandbox/events
?email=``, ``GET /_sandbox/invitations``, ``POST /_sandbox/failures`` (``{"path_regex", "status", "count",
"method"?, "retry_after"?, "reason"?}``), ``GET /_sandbox/requests?email=&method=&path_regex=``,
``POST /_sandbox/reset``.
"""
from __future__ import annotations

import re
import secrets
from typing import Any

from devhost.msstandin.web import Request, Response, Router, json_response

from .state import Failure, Grant


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": {"code": "SandboxBadRequest", "message": message}})


def register(router: Router) -> None:
    router.add("GET POST", r"/_sandbox/accounts", accounts)
    router.add("POST", r"/_sandbox/accounts/(?P<email>[^/]+)/events", outside_event)
    router.add("POST", r"/_sandbox/accounts/(?P<email>[^/]+)/revoke", revoke)
    router.add("POST", r"/_sandbox/tokens", tokens)
    router.add("GET", r"/_sandbox/events", events)
    router.add("GET", r"/_sandbox/invitations", invitations)
    router.add("POST", r"/_sandbox/failures", failures)
    router.add("GET", r"/_sandbox/requests", requests)
    router.add("POST", r"/_sandbox/reset", reset)


def accounts(ctx: Any, req: Request) -> Response:
    if req.method == "POST":
        body = req.json() or {}
        email = str(body.get("email") or "")
        if "@" not in email:
            return _error(400, "email is required")
        ctx.state.add_account(email, str(body.get("name") or email.split("@")[0]))
    with ctx.state.lock:
        listed = [{"email": a.email, "name": a.name, "sub": a.sub} for a in ctx.state.accounts.values()]
    return json_response(200, {"value": listed})


def outside_event(ctx: Any, req: Request, email: str) -> Response:
    if ctx.state.account(email) is None:
        return _error(404, f"no account {email}")
    body = req.json() or {}
    if not body.get("start") or not body.get("end"):
        return _error(400, "start and end (UTC ISO instants) are required")
    event_id = "outside" + secrets.token_hex(8)
    event = {"kind": "calendar#event", "id": event_id, "status": "confirmed",
             "summary": str(body.get("summary") or "Busy"), "transparency": body.get("transparency") or "opaque",
             "start": {"dateTime": body["start"]}, "end": {"dateTime": body["end"]}}
    with ctx.state.lock:
        ctx.state.calendar(email)[event_id] = event
    return json_response(201, event)


def revoke(ctx: Any, _req: Request, email: str) -> Response:
    if ctx.state.account(email) is None:
        return _error(404, f"no account {email}")
    return json_response(200, {"email": email, "revoked": ctx.state.revoke(email)})


def tokens(ctx: Any, req: Request) -> Response:
    body = req.json() or {}
    email = str(body.get("email") or "")
    if ctx.state.account(email) is None:
        return _error(404, f"no account {email}")
    scopes = tuple(body.get("scopes") or ctx.default_scopes)
    grant = Grant(email, next(iter(ctx.state.clients)), scopes)
    refresh = "1//standin-" + secrets.token_urlsafe(32)
    with ctx.state.lock:
        ctx.state.refresh_tokens[refresh] = grant
    return json_response(200, {"access_token": ctx.state.issue_access_token(grant, ctx.clock()),
                               "refresh_token": refresh})


def events(ctx: Any, req: Request) -> Response:
    email = req.query.get("email") or ""
    with ctx.state.lock:
        value = [dict(e) for e in ctx.state.calendar(email).values()]
    return json_response(200, {"value": value})


def invitations(ctx: Any, _req: Request) -> Response:
    with ctx.state.lock:
        return json_response(200, {"value": list(ctx.state.invitations)})


def failures(ctx: Any, req: Request) -> Response:
    body = req.json() or {}
    try:
        re.compile(str(body.get("path_regex") or ""))
        rule = Failure(str(body["path_regex"]), int(body["status"]), int(body.get("count") or 1),
                       body.get("method"), body.get("retry_after"), body.get("reason"))
    except (KeyError, TypeError, ValueError, re.error) as exc:
        return _error(400, f"bad failure rule: {exc}")
    with ctx.state.lock:
        ctx.state.failures.append(rule)
    return json_response(201, {"path_regex": rule.path_regex, "status": rule.status, "count": rule.count})


def requests(ctx: Any, req: Request) -> Response:
    email, method = req.query.get("email"), req.query.get("method")
    pattern = re.compile(req.query.get("path_regex") or "")
    with ctx.state.lock:
        found = [e for e in ctx.state.log if (not email or e.get("email") == email.lower())
                 and (not method or e["method"] == method.upper()) and pattern.search(e["path"])]
    return json_response(200, {"value": found})


def reset(ctx: Any, _req: Request) -> Response:
    ctx.state.reset()
    return json_response(200, {"reset": True})
