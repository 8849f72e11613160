"""Sandbox operations for inbound sync: the user acting in Outlook, subscriptions and their notifications.

* ``POST /_sandbox/accounts/{upn}/events/{id}/delete`` — the user deletes the event in Outlook (``deleted``).
* ``POST /_sandbox/accounts/{upn}/events/{id}/decline`` ``{"comment"?}`` — the user declines an event they
  attend (``responseStatus.response`` becomes ``declined``; ``updated``). An organizer cannot decline their own
  meeting (400), as in Outlook ("event: decline" is for invitations).
* ``POST /_sandbox/accounts/{upn}/events/{id}/move`` ``{"start", "end"}`` (ISO, UTC) — the user drags the event
  to another time (the Teams meeting stays; ``updated``).
* ``GET /_sandbox/subscriptions`` — every subscription (``expired`` shown); ``POST .../{id}/lapse`` — it
  expires now, silently; ``POST .../{id}/lifecycle`` ``{"lifecycleEvent"}`` — a lifecycle notification.
* ``GET /_sandbox/notifications?kind=&subscription_id=`` — deliveries (validation, change, lifecycle) and
  their answers; ``pending`` counts deliveries still queued.
"""
from __future__ import annotations

import copy
from typing import Any

from . import graph_subscriptions as subs
from .context import Context
from .graph_events import remove_event
from .state import StoredEvent, new_id
from .timezones import format_dto, format_dttz, now_utc, parse_dto
from .web import Request, Response, Router, json_response

EVENT = r"/_sandbox/accounts/(?P<upn>[^/]+)/events/(?P<eid>[^/]+)"


def register(router: Router) -> None:
    """Add the routes."""
    router.add("POST", EVENT + "/delete", delete_event)
    router.add("POST", EVENT + "/decline", decline_event)
    router.add("POST", EVENT + "/move", move_event)
    router.add("GET", r"/_sandbox/subscriptions", list_subscriptions)
    router.add("POST", r"/_sandbox/subscriptions/(?P<sid>[^/]+)/lapse", lapse)
    router.add("POST", r"/_sandbox/subscriptions/(?P<sid>[^/]+)/lifecycle", lifecycle)
    router.add("GET", r"/_sandbox/notifications", list_notifications)


def _problem(status: int, message: str) -> Response:
    return json_response(status, {"error": {"code": "SandboxBadRequest" if status == 400 else "SandboxNotFound",
                                            "message": message}})


def _body(req: Request) -> dict[str, Any]:
    data = req.json() if req.body.strip() else {}
    return data if isinstance(data, dict) else {}


def _event(ctx: Context, upn: str, eid: str) -> tuple[str, StoredEvent] | Response:
    account = ctx.state.account(upn)
    if account is None:
        return _problem(404, f"unknown account {upn!r}")
    with ctx.state.lock:
        ev = ctx.state.mailbox(account.upn).events.get(eid)
    if ev is None:
        return _problem(404, "no such event in the mailbox")
    return account.upn.lower(), ev


def _touched(ev: StoredEvent) -> None:
    ev.data["lastModifiedDateTime"] = format_dto(now_utc())
    ev.data["changeKey"] = new_id(nbytes=12)


def delete_event(ctx: Context, req: Request, upn: str, eid: str) -> Response:
    """The user deletes the event in Outlook."""
    found = _event(ctx, upn, eid)
    if isinstance(found, Response):
        return found
    remove_event(ctx, found[0], found[1], "delete", "deleted by the user in Outlook")
    return json_response(200, {"deleted": eid})


def decline_event(ctx: Context, req: Request, upn: str, eid: str) -> Response:
    """The user declines an invitation they attend."""
    found = _event(ctx, upn, eid)
    if isinstance(found, Response):
        return found
    owner, ev = found
    if ev.data.get("isOrganizer"):
        return _problem(400, "the organizer of a meeting cannot decline it (delete or cancel it instead)")
    with ctx.state.lock:
        ev.data["responseStatus"] = {"response": "declined", "time": format_dto(now_utc())}
        _touched(ev)
    subs.event_changed(ctx, owner, eid, "updated", ev.data["changeKey"])
    return json_response(200, {"declined": eid})


def move_event(ctx: Context, req: Request, upn: str, eid: str) -> Response:
    """The user moves the event to ``{"start", "end"}`` (UTC)."""
    found = _event(ctx, upn, eid)
    if isinstance(found, Response):
        return found
    owner, ev = found
    b = _body(req)
    try:
        start, end = parse_dto(str(b["start"])), parse_dto(str(b["end"]))
    except (KeyError, ValueError) as exc:
        return _problem(400, f"start and end must be ISO-8601 date-times ({exc})")
    if end <= start:
        return _problem(400, "end must be later than start")
    with ctx.state.lock:
        ev.start, ev.end = start, end
        ev.data["start"], ev.data["end"] = format_dttz(start), format_dttz(end)
        _touched(ev)
    subs.event_changed(ctx, owner, eid, "updated", ev.data["changeKey"])
    return json_response(200, {"moved": eid, "start": format_dto(start), "end": format_dto(end)})


def list_subscriptions(ctx: Context, req: Request) -> Response:
    """Every subscription, with whose it is and whether it expired."""
    with ctx.state.lock:
        items = [{**copy.deepcopy(s["body"]), "upn": s["upn"], "expired": not subs.alive(s)}
                 for s in ctx.state.subscriptions.values()]
    return json_response(200, {"value": items})


def lapse(ctx: Context, req: Request, sid: str) -> Response:
    """The subscription expires now (it was not renewed in time); nothing is sent."""
    try:
        subs.lapse(ctx, sid)
    except KeyError:
        return _problem(404, "no such subscription")
    return json_response(200, {"lapsed": sid})


def lifecycle(ctx: Context, req: Request, sid: str) -> Response:
    """Send ``{"lifecycleEvent": "reauthorizationRequired"|"subscriptionRemoved"|"missed"}``."""
    event = _body(req).get("lifecycleEvent")
    if event not in subs.LIFECYCLE_EVENTS:
        return _problem(400, f"lifecycleEvent must be one of {list(subs.LIFECYCLE_EVENTS)}")
    try:
        sent = subs.send_lifecycle(ctx, sid, str(event))
    except KeyError:
        return _problem(404, "no such subscription")
    return json_response(200, {"sent": sent, "lifecycleEvent": event})


def list_notifications(ctx: Context, req: Request) -> Response:
    """Deliveries, oldest first; filters ``?kind=`` and ``?subscription_id=``."""
    q = req.query
    with ctx.state.lock:
        items = copy.deepcopy(ctx.state.deliveries)
    items = [d for d in items if (not q.get("kind") or d.get("kind") == q["kind"])
             and (not q.get("subscription_id") or d.get("subscription_id") == q["subscription_id"])]
    return json_response(200, {"value": items, "pending": subs.notifier(ctx).pending})
