"""The control API under ``/_sandbox/`` and the Teams join pages under ``/meet/``."""
from __future__ import annotations

import copy
import re
from typing import Any

from . import pages
from .context import Context
from .graph_events import new_event
from .graph_subscriptions import event_changed
from .identity import REVOKE_REASONS, normalize_scopes
from .state import StoredEvent
from .timezones import format_dto, format_dttz, parse_dto
from .web import BodyError, Request, Response, Router, html_response, json_response

UPN = r"(?P<upn>[^/]+)"
DEFAULT_TOKEN_SCOPES = ("User.Read", "Calendars.ReadWrite", "OnlineMeetings.ReadWrite")


def register(router: Router) -> None:
    """Add the sandbox and join-page routes."""
    router.add("GET", r"/_sandbox/?", health)
    router.add("GET", r"/_sandbox/accounts", list_accounts)
    router.add("POST", rf"/_sandbox/accounts/{UPN}/revoke", revoke)
    router.add("POST", rf"/_sandbox/accounts/{UPN}/events", add_outside_event)
    router.add("POST", rf"/_sandbox/accounts/{UPN}/calendars", add_calendar)
    router.add("GET", r"/_sandbox/events", list_events)
    router.add("GET", r"/_sandbox/meetings", list_meetings)
    router.add("GET", r"/_sandbox/requests", list_requests)
    router.add("DELETE", r"/_sandbox/requests", clear_requests)
    router.add("GET", r"/_sandbox/failures", list_failures)
    router.add("POST", r"/_sandbox/failures", add_failure)
    router.add("DELETE", r"/_sandbox/failures", clear_failures)
    router.add("GET", r"/_sandbox/config", get_config)
    router.add("POST", r"/_sandbox/config", set_config)
    router.add("POST", r"/_sandbox/reset", reset)
    router.add("POST", r"/_sandbox/tokens", mint_token)
    router.add("POST", r"/_sandbox/clients", add_client)
    router.add("GET", r"/_sandbox/consents", list_consents)
    router.add("GET HEAD", r"/meet/(?P<token>[A-Za-z0-9]+)", join_page)


def _problem(status: int, message: str) -> Response:
    return json_response(status, {"error": {"code": "SandboxBadRequest" if status == 400 else "SandboxNotFound",
                                            "message": message}})


def _body(req: Request) -> dict[str, Any]:
    data = req.json() if req.body.strip() else {}
    if not isinstance(data, dict):
        raise BodyError("The body must be a JSON object.")
    return data


def health(ctx: Context, req: Request) -> Response:
    """Where things are."""
    return json_response(200, {"status": "ok", "base_url": ctx.base_url, "authority_host": ctx.base_url,
                               "graph_base_url": ctx.graph_base_url})


def list_accounts(ctx: Context, req: Request) -> Response:
    """The test accounts."""
    return json_response(200, {"accounts": [a.public() for a in ctx.state.accounts.values()]})


def revoke(ctx: Context, req: Request, upn: str) -> Response:
    """Revoke an account's tokens; ``{"reason": "revoked"|"expired"|"inactive"|"consent"}`` picks the refresh error."""
    account = ctx.state.account(upn)
    if account is None:
        return _problem(404, f"unknown account {upn!r}")
    reason = _body(req).get("reason", "revoked")
    if reason not in REVOKE_REASONS:
        return _problem(400, f"reason must be one of {sorted(REVOKE_REASONS)}")
    count = ctx.state.revoke(account.upn, reason)
    return json_response(200, {"upn": account.upn, "revoked_tokens": count, "reason": reason,
                               "aadsts": REVOKE_REASONS[reason][1]})


def add_outside_event(ctx: Context, req: Request, upn: str) -> Response:
    """Add an event made outside bookbridge: ``{"start", "end" (ISO, UTC if naive), "showAs"?, "subject"?}``."""
    account = ctx.state.account(upn)
    if account is None:
        return _problem(404, f"unknown account {upn!r}")
    b = _body(req)
    try:
        start, end = parse_dto(str(b["start"])), parse_dto(str(b["end"]))
    except (KeyError, ValueError) as exc:
        return _problem(400, f"start and end must be ISO-8601 date-times ({exc})")
    show_as = b.get("showAs", "busy")
    if show_as not in ctx.contract.enums["freeBusyStatus"] or end <= start:
        return _problem(400, "showAs must be a freeBusyStatus and end later than start")
    cid = b.get("calendar_id") or account.calendar_id
    if not any(c.id == cid for c in account.calendars):
        return _problem(404, f"unknown calendar {cid!r}")
    data = new_event(account, ctx.base_url, start, end, "UTC", "UTC", origin="outside")
    organizer = b.get("organizer") or "organizer@partner.example"
    data.update({"subject": b.get("subject", "Meeting booked outside bookbridge"), "showAs": show_as,
                 "isOrganizer": organizer.lower() == account.upn.lower(),
                 "sensitivity": b.get("sensitivity", "normal"),
                 "organizer": {"emailAddress": {"name": organizer, "address": organizer}},
                 "responseStatus": {"response": "accepted", "time": format_dto(start)}})
    problems = ctx.contract.validate(data, "event")
    if problems:
        return _problem(400, "; ".join(str(p) for p in problems))
    with ctx.state.lock:
        ctx.state.mailbox(account.upn).events[data["id"]] = StoredEvent(data["id"], cid, data, start, end, "outside")
    event_changed(ctx, account.upn, data["id"], "created", data["changeKey"])
    return json_response(201, data)


def add_calendar(ctx: Context, req: Request, upn: str) -> Response:
    """Add a calendar to a mailbox: ``{"name", "allowedOnlineMeetingProviders"?}`` (default
    ``["teamsForBusiness"]``; ``[]`` makes a calendar on which events get no Teams meeting)."""
    account = ctx.state.account(upn)
    if account is None:
        return _problem(404, f"unknown account {upn!r}")
    b = _body(req)
    name, providers = b.get("name"), b.get("allowedOnlineMeetingProviders", ["teamsForBusiness"])
    known = ctx.contract.enums["onlineMeetingProviderType"]
    if not isinstance(name, str) or not name.strip() or not isinstance(providers, list) \
            or any(p not in known or p == "unknown" for p in providers):
        return _problem(400, f"give a name and allowedOnlineMeetingProviders from {sorted(set(known) - {'unknown'})}")
    info = ctx.state.add_calendar(account.upn, name.strip(), "teamsForBusiness" in providers)
    return json_response(201, {"id": info.id, "name": info.name, "upn": account.upn,
                               "allowedOnlineMeetingProviders": ["teamsForBusiness"] if info.allows_teams else []})


def _public_event(ev: StoredEvent) -> dict[str, Any]:
    data = copy.deepcopy(ev.data)
    data["start"], data["end"] = format_dttz(ev.start), format_dttz(ev.end)
    return {"calendar_id": ev.calendar_id, "origin": ev.origin, "event": data}


def list_events(ctx: Context, req: Request) -> Response:
    """``?upn=``: the mailbox's events (by start) and the deleted/cancelled ones."""
    account = ctx.state.account(req.query.get("upn"))
    if account is None:
        return _problem(404, "give ?upn= of a known account")
    with ctx.state.lock:
        box = ctx.state.mailbox(account.upn)
        events = [_public_event(e) for e in sorted(box.events.values(), key=lambda e: (e.start, e.id))]
        removed = copy.deepcopy(box.removed)
    return json_response(200, {"upn": account.upn, "value": events, "removed": removed})


def list_meetings(ctx: Context, req: Request) -> Response:
    """``?upn=``: the account's online meetings."""
    account = ctx.state.account(req.query.get("upn"))
    if account is None:
        return _problem(404, "give ?upn= of a known account")
    with ctx.state.lock:
        meetings = copy.deepcopy(list(ctx.state.mailbox(account.upn).meetings.values()))
    return json_response(200, {"upn": account.upn, "value": meetings})


def list_requests(ctx: Context, req: Request) -> Response:
    """Recorded Graph and identity requests; filters ``?upn=``, ``?path_regex=``, ``?method=``."""
    q = req.query
    with ctx.state.lock:
        entries = copy.deepcopy(ctx.state.log)
    if q.get("upn"):
        entries = [e for e in entries if (e.get("upn") or "") == q["upn"].lower()]
    if q.get("method"):
        entries = [e for e in entries if e["method"] == q["method"].upper()]
    if q.get("path_regex"):
        try:
            pattern = re.compile(q["path_regex"])
        except re.error as exc:
            return _problem(400, f"bad path_regex: {exc}")
        entries = [e for e in entries if pattern.search(e["path"])]
    return json_response(200, {"value": entries})


def clear_requests(ctx: Context, req: Request) -> Response:
    """Forget the recorded requests."""
    with ctx.state.lock:
        ctx.state.log.clear()
    return Response(204)


def list_failures(ctx: Context, req: Request) -> Response:
    """The failure-injection rules (with remaining counts)."""
    with ctx.state.lock:
        return json_response(200, {"value": [r.public() for r in ctx.state.failures]})


def add_failure(ctx: Context, req: Request) -> Response:
    """``{"path_regex"|"path", "method"?, "status", "count"?, "retry_after"?, "code"?, "message"?}``."""
    b = _body(req)
    pattern = b.get("path_regex") or (("^" + re.escape(b["path"]) + "$") if b.get("path") else None)
    status, count = b.get("status"), b.get("count", 1)
    if not pattern or not isinstance(status, int) or not 400 <= status <= 599 or not isinstance(count, int):
        return _problem(400, "give path_regex or path, an integer status 400-599 and an integer count")
    retry_after = b.get("retry_after")
    if retry_after is not None and not isinstance(retry_after, int):
        return _problem(400, "retry_after must be an integer number of seconds")
    try:
        rule = ctx.state.add_failure(pattern, b.get("method"), status, count, retry_after, b.get("code"),
                                     b.get("message"))
    except re.error as exc:
        return _problem(400, f"bad path_regex: {exc}")
    return json_response(201, rule.public())


def clear_failures(ctx: Context, req: Request) -> Response:
    """Remove every failure rule."""
    with ctx.state.lock:
        ctx.state.failures.clear()
    return Response(204)


def get_config(ctx: Context, req: Request) -> Response:
    """The realism knobs."""
    with ctx.state.lock:
        return json_response(200, dict(vars(ctx.state.config)))


def set_config(ctx: Context, req: Request) -> Response:
    """Change knobs: latency_ms, max_concurrent_per_mailbox, admin_consent (grant|deny), lifetimes..."""
    with ctx.state.lock:
        problems = ctx.state.config.update(_body(req))
        if problems:
            return _problem(400, "; ".join(problems))
        return json_response(200, dict(vars(ctx.state.config)))


def reset(ctx: Context, req: Request) -> Response:
    """Forget events, meetings, tokens, codes, failures and the log; knobs back to their start values."""
    ctx.state.reset()
    return Response(204)


def mint_token(ctx: Context, req: Request) -> Response:
    """A Graph access token for ``{"upn", "scopes"?, "client_id"?}`` without the sign-in dance (tests)."""
    b = _body(req)
    account = ctx.state.account(b.get("upn"))
    if account is None:
        return _problem(404, "give the upn of a known account")
    raw = b.get("scopes", DEFAULT_TOKEN_SCOPES)
    scopes = normalize_scopes(raw if isinstance(raw, str) else " ".join(raw))
    client_id = b.get("client_id") or next(iter(ctx.state.clients))
    rec = ctx.state.issue("access", account.upn, client_id, scopes)
    return json_response(200, {"access_token": rec.token, "token_type": "Bearer", "scope": " ".join(scopes),
                               "expires_in": int(rec.expires_at - rec.issued_at)})


def add_client(ctx: Context, req: Request) -> Response:
    """Register another application: ``{"client_id", "client_secret"}`` (secret null: public client)."""
    b = _body(req)
    if not b.get("client_id"):
        return _problem(400, "client_id is required")
    with ctx.state.lock:
        ctx.state.clients[str(b["client_id"])] = b.get("client_secret")
    return json_response(201, {"client_id": b["client_id"]})


def list_consents(ctx: Context, req: Request) -> Response:
    """Admin consents granted through ``/{tenant}/v2.0/adminconsent``."""
    with ctx.state.lock:
        return json_response(200, {"value": copy.deepcopy(ctx.state.consents)})


def join_page(ctx: Context, req: Request, token: str) -> Response:
    """A Teams join URL: 200 while its meeting exists, 404 otherwise."""
    with ctx.state.lock:
        link = copy.deepcopy(ctx.state.join_links.get(token))
    if not link or not link["alive"]:
        return html_response(404, pages.message_page("Meeting not found", "This meeting link is not valid."))
    return html_response(200, pages.join_page(link["subject"], link["upn"]))
