"""The Graph front door: bearer auth, mailbox concurrency (429), latency, injected failures,
request/response contract checks, routing and ``$batch``."""
from __future__ import annotations

import json
import time
from typing import Any

from . import graph_events, graph_meetings, graph_schedule, graph_subscriptions
from .context import Context
from .graph_common import ERROR_CODES, GraphCall, GraphError, error_response
from .state import TokenRecord
from .timezones import TimeZoneNotSupported, prefer_timezone
from .web import BodyError, Request, Response, Router, json_response

PREFIX = "/v1.0"
MAX_BATCH = 20
THROTTLE_MESSAGE = "Application is over its MailboxConcurrency limit."

ROUTER = Router(ignore_case=True)
graph_events.register(ROUTER)
graph_schedule.register(ROUTER)
graph_meetings.register(ROUTER)
graph_subscriptions.register(ROUTER)


def _bearer(ctx: Context, req: Request) -> tuple[TokenRecord | None, str]:
    """The access-token record (valid or not) and why it is refused ('' when it is fine)."""
    auth = req.header("authorization") or ""
    if not auth.lower().startswith("bearer ") or not auth[7:].strip():
        return None, "Access token is empty."
    rec = ctx.state.token(auth[7:].strip(), "access")
    if rec is None:
        return None, "IDX14100: JWT is not well formed, there are no dots (.). The token needs to be in JWS or JWE " \
                     "Compact Serialization Format."
    if rec.revoked:
        return rec, "The user or administrator has revoked the token (Continuous access evaluation)."
    if rec.expires_at < time.time():
        return rec, "Lifetime validation failed, the token is expired."
    return rec, ""


def _injected(ctx: Context, method: str, path: str) -> Response | None:
    rule = ctx.state.take_failure(method, path)
    if rule is None:
        return None
    headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
    message = rule.message or f"Injected failure ({rule.status}) from the stand-in sandbox."
    return error_response(rule.status, rule.code or ERROR_CODES.get(rule.status), message, headers)


def dispatch(ctx: Context, req: Request, sub_path: str) -> tuple[Response, str | None]:
    """Serve one Graph request (``sub_path`` is relative to ``/v1.0``); returns the response and mailbox UPN."""
    rec, refused = _bearer(ctx, req)
    upn = rec.upn if rec is not None else None
    key = (rec.client_id, rec.upn) if rec is not None and not refused else None
    if key is not None and not ctx.state.enter(key):
        return error_response(429, "ApplicationThrottled", THROTTLE_MESSAGE, {"Retry-After": "1"}), upn
    try:
        latency = ctx.state.config.latency_ms
        if latency > 0:
            time.sleep(latency / 1000)
        injected = _injected(ctx, req.method, PREFIX + sub_path)
        if injected is not None:
            return injected, upn
        if rec is None or refused:
            return error_response(401, "InvalidAuthenticationToken", refused, {
                "WWW-Authenticate": f'Bearer realm="", authorization_uri="{ctx.base_url}/common/oauth2/authorize", '
                                    'client_id="00000003-0000-0000-c000-000000000000"'}), upn
        return _route(ctx, req, sub_path, rec), upn
    finally:
        if key is not None:
            ctx.state.leave(key)


def _route(ctx: Context, req: Request, sub_path: str, rec: TokenRecord) -> Response:
    route, params, known = ROUTER.match(req.method, sub_path.rstrip("/") or "/")
    if route is None:
        if known:
            return error_response(405, "BadRequest", f"The HTTP method '{req.method}' is not allowed here.")
        segment = sub_path.strip("/").split("/")[-1]
        return error_response(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    account = ctx.state.account(rec.upn)
    assert account is not None
    try:
        body = req.json() if req.method in ("POST", "PATCH", "PUT") else None
        call = GraphCall(ctx, req, account, rec, params, body, prefer_timezone(req.header("prefer")))
        resp = route.handler(call)
    except BodyError as exc:
        return error_response(400, "BadRequest", str(exc))
    except TimeZoneNotSupported as exc:
        return error_response(400, "TimeZoneNotSupportedException", str(exc))
    except GraphError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    return _check_response(ctx, route.meta.get("returns"), resp)


def _check_response(ctx: Context, type_name: str | None, resp: Response) -> Response:
    """The stand-in's own answers must satisfy the contract; a violation is a 500 (a stand-in bug)."""
    if type_name is None or not isinstance(resp.data, dict) or resp.status >= 300:
        return resp
    items = resp.data["value"] if isinstance(resp.data.get("value"), list) else [resp.data]
    problems = [p for item in items for p in ctx.contract.validate(item, type_name)]
    if problems:
        return error_response(500, "StandInContractViolation",
                              "; ".join(str(p) for p in problems[:5]))
    return resp


def batch(ctx: Context, req: Request, record: Any) -> tuple[Response, str | None]:
    """``POST /v1.0/$batch``: up to 20 requests, run in order through :func:`dispatch` (``dependsOn`` honoured)."""
    try:
        payload = req.json()
    except BodyError as exc:
        return error_response(400, "BadRequest", str(exc)), None
    requests_ = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(requests_, list) or not requests_:
        return error_response(400, "BadRequest", "Invalid batch payload format: 'requests' is required."), None
    if len(requests_) > MAX_BATCH:
        return error_response(400, "BadRequest", f"The number of batch requests ({len(requests_)}) exceeds "
                              f"the maximum of {MAX_BATCH}."), None
    ids = [str(r.get("id")) for r in requests_ if isinstance(r, dict)]
    if len(ids) != len(requests_) or len(set(ids)) != len(ids) or "None" in ids:
        return error_response(400, "BadRequest", "Every batch request needs a unique 'id'."), None
    results: dict[str, int] = {}
    responses = []
    upn: str | None = None
    for item in requests_:
        sub, sub_upn = _batch_item(ctx, req, item, results, record)
        upn = upn or sub_upn
        results[str(item["id"])] = sub.status
        responses.append({"id": str(item["id"]), "status": sub.status,
                          "headers": {k: v for k, v in sub.headers.items() if k.lower() != "content-length"},
                          "body": sub.data})
    return json_response(200, {"responses": responses}), upn


def _batch_item(ctx: Context, outer: Request, item: dict[str, Any], results: dict[str, int],
                record: Any) -> tuple[Response, str | None]:
    depends = item.get("dependsOn") or []
    if any(str(d) not in results for d in depends):
        return error_response(400, "BadRequest", "dependsOn must name earlier requests of the batch."), None
    if any(not 200 <= results[str(d)] < 300 for d in depends):
        return error_response(424, "FailedDependency", "A request this request depends on failed."), None
    method, url = str(item.get("method", "")).upper(), str(item.get("url", ""))
    if method not in ("GET", "POST", "PATCH", "PUT", "DELETE") or not url:
        return error_response(400, "BadRequest", "Each batch request needs a method and a relative url."), None
    headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
    body = b""
    if item.get("body") is not None:
        if not any(k.lower() == "content-type" for k in headers):
            return error_response(400, "BadRequest", "Content-Type header must be specified when a body is "
                                  "present in a batch request."), None
        body = json.dumps(item["body"]).encode()
    headers.setdefault("Authorization", outer.header("authorization") or "")
    sub_req = Request.build(method, "/" + url.lstrip("/"), headers, body)
    started = time.time()
    resp, upn = dispatch(ctx, sub_req, sub_req.path)
    record(sub_req, PREFIX + sub_req.path, resp, upn, started, "graph-batch-item")
    return resp, upn
