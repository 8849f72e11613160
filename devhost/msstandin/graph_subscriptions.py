"""Graph change notifications for Outlook events: ``/subscriptions`` and the notifications the stand-in sends.

What Microsoft's pages say, and the stand-in does:

* "Create subscription": ``POST /subscriptions`` with ``changeType`` (``created``, ``updated``, ``deleted``,
  comma-separated), ``notificationUrl``, ``resource`` and ``expirationDateTime`` (required), ``clientState``
  (at most 128 characters, "subscription resource type") and ``lifecycleNotificationUrl``; a read scope on the
  resource (``Calendars.Read`` for events); ``201`` with the subscription. "If validation fails, the request to
  create the subscription returns a 400 Bad Request error."
* "Receive change notifications through webhooks" (notificationUrl validation): before creating, Graph POSTs
  ``{notificationUrl}?validationToken=...`` (``Content-Type: text/plain``); the endpoint must answer within
  10 seconds with ``200``, ``text/plain`` and the decoded token as the body, else no subscription. When a
  ``lifecycleNotificationUrl`` is given, it is validated too ("Reduce missing subscriptions and change
  notifications"). Notifications are POSTed with a 3-second timeout.
* "subscription resource type", "Maximum length of subscription per resource type": Outlook event 4230 minutes
  (under 3 days). A create or renewal beyond it is refused (400); an expired subscription is gone (404).
* ``PATCH /subscriptions/{id}`` (``expirationDateTime``; renewing also reauthorizes) and ``DELETE`` (204).
* Change notification bodies are ``changeNotificationCollection`` values (checked against the contract):
  ``subscriptionId``, ``subscriptionExpirationDateTime``, ``clientState``, ``changeType``, ``resource``
  (``Users/{oid}/Events/{id}``), ``tenantId`` and ``resourceData`` (``@odata.id``, ``@odata.etag``) as in
  the page's example, less its ``@odata.type`` and ``id``, which the contract's ``resourceData`` (open, no
  declared properties; the stand-in treats open types as closed) does not admit: the event id is the last
  segment of ``resource``; lifecycle notifications carry ``lifecycleEvent``
  (``reauthorizationRequired``, ``subscriptionRemoved``, ``missed``) and no resource.

Deliberate differences: ``http://`` notification URLs are accepted for loopback hosts only (the local Functions
host; Graph wants https everywhere); a failed delivery is recorded, not retried for 4 hours.
"""
from __future__ import annotations

import logging
import queue
import re
import secrets
import threading
import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from .context import Context
from .graph_common import CALENDAR_READ, GraphCall, GraphError, read_body
from .timezones import format_dto, now_utc, parse_dto
from .web import Response, Router, json_response

log = logging.getLogger("msstandin.subscriptions")

#: "subscription resource type", "Maximum length of subscription per resource type": Outlook **event**.
MAX_EVENT_SUBSCRIPTION_MINUTES = 4230
MAX_CLIENT_STATE = 128
VALIDATION_TIMEOUT_S = 10
DELIVERY_TIMEOUT_S = 3
CHANGE_TYPES = ("created", "updated", "deleted")
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
RESOURCE = re.compile(r"/?(?:me|users/(?P<user>[^/]+))/events", re.IGNORECASE)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(router: Router) -> None:
    """Add the routes (paths relative to ``/v1.0``)."""
    router.add("POST", r"/subscriptions", create, returns="subscription")
    router.add("GET", r"/subscriptions", list_subscriptions, returns="subscription")
    router.add("GET", r"/subscriptions/(?P<sid>[^/]+)", get_subscription, returns="subscription")
    router.add("PATCH", r"/subscriptions/(?P<sid>[^/]+)", update, returns="subscription")
    router.add("DELETE", r"/subscriptions/(?P<sid>[^/]+)", delete)


def _bad(message: str, code: str = "InvalidRequest") -> GraphError:
    return GraphError(400, code, message)


def _expiration(raw: Any) -> Any:
    try:
        when = parse_dto(str(raw))
    except (TypeError, ValueError) as exc:
        raise _bad(f"Invalid expirationDateTime: {raw!r}.") from exc
    now = now_utc()
    if when <= now:
        raise _bad("Subscription expiration must be in the future.")
    if when > now + timedelta(minutes=MAX_EVENT_SUBSCRIPTION_MINUTES):
        raise _bad(f"Subscription expiration can only be {MAX_EVENT_SUBSCRIPTION_MINUTES} minutes in the future.")
    return when


def _check_url(url: Any, name: str) -> str:
    parts = urlsplit(str(url or ""))
    loopback_http = parts.scheme == "http" and (parts.hostname or "") in LOOPBACK
    if parts.scheme != "https" and not loopback_http:
        raise _bad(f"The {name} must use the https scheme.", "InvalidRequest")
    if not parts.hostname:
        raise _bad(f"The {name} is not a valid URL.")
    return str(url)


def validate_endpoint(ctx: Context, url: str, subscription_id: str | None = None) -> tuple[bool, str]:
    """Graph's validation request: ``POST {url}?validationToken=...``; ``(ok, why)``."""
    import requests

    token = "Validation: Testing client application reachability for subscription Request-Id: " + str(uuid.uuid4())
    started = time.time()
    try:
        resp = requests.post(url, params={"validationToken": token}, data=b"",
                             headers={"Content-Type": "text/plain; charset=utf-8"},
                             timeout=VALIDATION_TIMEOUT_S, verify=False)
        status, ctype, body = resp.status_code, resp.headers.get("content-type", ""), resp.text
    except requests.RequestException as exc:
        status, ctype, body = 0, "", f"{type(exc).__name__}"
    ok = status == 200 and ctype.lower().startswith("text/plain") and body == token
    why = "" if ok else (f"answered {status} {ctype!r}" if status else f"not reachable ({body})")
    _record(ctx, {"kind": "validation", "url": _safe(url), "subscription_id": subscription_id, "status": status,
                  "ok": ok, "duration_ms": round((time.time() - started) * 1000, 1)})
    return ok, why


def _safe(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _record(ctx: Context, entry: dict[str, Any]) -> None:
    with ctx.state.lock:
        ctx.state.deliveries.append({"time": format_dto(now_utc()), **entry})
        del ctx.state.deliveries[:-2000]


def public(sub: dict[str, Any]) -> dict[str, Any]:
    """The subscription as Graph returns it."""
    return dict(sub["body"])


def alive(sub: dict[str, Any]) -> bool:
    """Not expired (Graph deletes a subscription that was not renewed in time)."""
    return bool(parse_dto(sub["body"]["expirationDateTime"]) > now_utc())


def create(call: GraphCall) -> Response:
    """``POST /subscriptions``: checks, then the validation request(s), then 201."""
    call.require_scope(CALENDAR_READ)
    body = read_body(call, "subscription")
    for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
        if not body.get(name):
            raise _bad(f"The property '{name}' is required.")
    changes = [c.strip() for c in str(body["changeType"]).split(",") if c.strip()]
    if not changes or any(c not in CHANGE_TYPES for c in changes):
        raise _bad(f"changeType must be a comma-separated list of {', '.join(CHANGE_TYPES)}.")
    match = RESOURCE.fullmatch(str(body["resource"]).strip())
    if match is None:
        raise _bad(f"The resource '{body['resource']}' is not supported by this stand-in (me/events, "
                   "users/{id}/events).", "ExtensionError")
    user = match.group("user")
    if user and user.lower() not in (call.upn, call.account.oid.lower()):
        raise GraphError(403, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden; "
                         "Reason: Access is denied. Check credentials and try again.]")
    expires = _expiration(body["expirationDateTime"])
    if len(str(body.get("clientState") or "")) > MAX_CLIENT_STATE:
        raise _bad(f"clientState must be at most {MAX_CLIENT_STATE} characters.")
    urls = [_check_url(body["notificationUrl"], "notificationUrl")]
    if body.get("lifecycleNotificationUrl"):
        urls.append(_check_url(body["lifecycleNotificationUrl"], "lifecycleNotificationUrl"))
    sid = str(uuid.uuid4())
    for url in urls:
        ok, why = validate_endpoint(call.ctx, url, sid)
        if not ok:
            raise _bad(f"Subscription validation request failed. Notification endpoint must respond with 200 OK "
                       f"to validation request ({why}).", "ValidationError")
    sub_body = {"id": sid, "resource": body["resource"], "applicationId": call.token.client_id,
                "changeType": ",".join(changes), "clientState": body.get("clientState"),
                "notificationUrl": body["notificationUrl"],
                "lifecycleNotificationUrl": body.get("lifecycleNotificationUrl"),
                "expirationDateTime": format_dto(expires), "creatorId": call.account.oid,
                "includeResourceData": False, "latestSupportedTlsVersion": "v1_2", "encryptionCertificate": None,
                "encryptionCertificateId": None, "notificationQueryOptions": None, "notificationUrlAppId": None}
    with call.ctx.state.lock:
        call.ctx.state.subscriptions[sid] = {"body": sub_body, "upn": call.upn, "oid": call.account.oid,
                                             "tid": call.account.tid, "client_id": call.token.client_id}
    return json_response(201, {"@odata.context": call.context_url("subscriptions/$entity"), **sub_body})


def _own(call: GraphCall) -> dict[str, Any]:
    with call.ctx.state.lock:
        sub = call.ctx.state.subscriptions.get(call.params["sid"])
    if sub is None or not alive(sub) or sub["client_id"] != call.token.client_id or sub["upn"] != call.upn:
        raise GraphError(404, "ResourceNotFound", "The object was not found.")
    return sub


def get_subscription(call: GraphCall) -> Response:
    """``GET /subscriptions/{id}``."""
    return json_response(200, public(_own(call)))


def list_subscriptions(call: GraphCall) -> Response:
    """``GET /subscriptions``: this application's live subscriptions of the signed-in user."""
    with call.ctx.state.lock:
        subs = [public(s) for s in call.ctx.state.subscriptions.values()
                if alive(s) and s["client_id"] == call.token.client_id and s["upn"] == call.upn]
    return json_response(200, {"@odata.context": call.context_url("subscriptions"), "value": subs})


def update(call: GraphCall) -> Response:
    """``PATCH /subscriptions/{id}``: renew (``expirationDateTime``) and/or move ``notificationUrl``."""
    sub = _own(call)
    body = read_body(call, "subscription")
    extra = set(body) - {"expirationDateTime", "notificationUrl"}
    if extra:
        raise _bad(f"Only expirationDateTime and notificationUrl can be updated (got {sorted(extra)}).")
    changes: dict[str, Any] = {}
    if "expirationDateTime" in body:
        changes["expirationDateTime"] = format_dto(_expiration(body["expirationDateTime"]))
    if "notificationUrl" in body:
        changes["notificationUrl"] = _check_url(body["notificationUrl"], "notificationUrl")
    with call.ctx.state.lock:
        sub["body"].update(changes)
        return json_response(200, {"@odata.context": call.context_url("subscriptions/$entity"), **public(sub)})


def delete(call: GraphCall) -> Response:
    """``DELETE /subscriptions/{id}``: 204."""
    sub = _own(call)
    with call.ctx.state.lock:
        call.ctx.state.subscriptions.pop(sub["body"]["id"], None)
    return Response(204)


# ------------------------------------------------------------------------------------- notifications
class Notifier:
    """Delivers notifications in order on one background thread (Graph sends them asynchronously)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.queue: queue.Queue[tuple[str, dict[str, Any], dict[str, Any]]] = queue.Queue()
        self.pending = 0
        self.thread = threading.Thread(target=self._run, name="msstandin-notifier", daemon=True)
        self.thread.start()

    def put(self, url: str, body: dict[str, Any], meta: dict[str, Any]) -> None:
        """Queue one POST of ``body`` to ``url``."""
        problems = self.ctx.contract.validate(body, "changeNotificationCollection")
        if problems:  # a stand-in bug: say so where it is seen
            raise AssertionError(f"notification violates the contract: {problems[:3]}")
        with self.ctx.state.lock:
            self.pending += 1
        self.queue.put((url, body, meta))

    def _run(self) -> None:
        import requests

        session = requests.Session()
        session.trust_env = False
        while True:
            url, body, meta = self.queue.get()
            started = time.time()
            try:
                status = session.post(url, json=body, timeout=DELIVERY_TIMEOUT_S, verify=False).status_code
            except requests.RequestException as exc:
                status, meta = 0, {**meta, "error": type(exc).__name__}
            _record(self.ctx, {**meta, "url": _safe(url), "status": status, "ok": 200 <= status < 300,
                               "body": body, "duration_ms": round((time.time() - started) * 1000, 1)})
            with self.ctx.state.lock:
                self.pending -= 1


_notifiers: dict[int, Notifier] = {}
_notifiers_lock = threading.Lock()


def notifier(ctx: Context) -> Notifier:
    """The context's notifier (started on first use)."""
    with _notifiers_lock:
        found = _notifiers.get(id(ctx.state))
        if found is None:
            found = _notifiers[id(ctx.state)] = Notifier(ctx)
        return found


def event_changed(ctx: Context, upn: str, event_id: str, change: str, change_key: str = "") -> None:
    """Record a change of a mailbox's event (``calendarView/delta``) and notify every live subscription on it."""
    state = ctx.state
    with state.lock:
        state.change_seq += 1
        state.mailbox(upn).changes.append((state.change_seq, event_id))
        targets = [s for s in state.subscriptions.values()
                   if s["upn"] == upn.lower() and alive(s) and change in s["body"]["changeType"].split(",")]
    for sub in targets:
        resource = f"Users/{sub['oid']}/Events/{event_id}"
        item = {"id": secrets.token_hex(8), "subscriptionId": sub["body"]["id"],
                "subscriptionExpirationDateTime": sub["body"]["expirationDateTime"],
                "clientState": sub["body"]["clientState"], "changeType": change, "resource": resource,
                "tenantId": sub["tid"],
                "resourceData": {"@odata.id": resource,
                                 "@odata.etag": f'W/"{change_key}"'}}
        notifier(ctx).put(sub["body"]["notificationUrl"], {"value": [item]},
                          {"kind": "change", "subscription_id": sub["body"]["id"], "change_type": change,
                           "event_id": event_id})


def send_lifecycle(ctx: Context, subscription_id: str, event: str) -> bool:
    """A lifecycle notification for one subscription (``subscriptionRemoved`` also removes it); False when the
    subscription has no ``lifecycleNotificationUrl`` (Graph then sends none)."""
    with ctx.state.lock:
        sub = ctx.state.subscriptions.get(subscription_id)
        if sub is None:
            raise KeyError(subscription_id)
        if event == "subscriptionRemoved":
            ctx.state.subscriptions.pop(subscription_id, None)
    url = sub["body"].get("lifecycleNotificationUrl")
    if not url:
        return False
    item = {"subscriptionId": subscription_id,
            "subscriptionExpirationDateTime": sub["body"]["expirationDateTime"], "tenantId": sub["tid"],
            "clientState": sub["body"]["clientState"], "lifecycleEvent": event}
    notifier(ctx).put(url, {"value": [item]}, {"kind": "lifecycle", "subscription_id": subscription_id,
                                               "lifecycle_event": event})
    return True


def lapse(ctx: Context, subscription_id: str) -> None:
    """The subscription expires now, without any notification (it was not renewed in time)."""
    with ctx.state.lock:
        sub = ctx.state.subscriptions.get(subscription_id)
        if sub is None:
            raise KeyError(subscription_id)
        sub["body"]["expirationDateTime"] = format_dto(now_utc() - timedelta(seconds=1))
