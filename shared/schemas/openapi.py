"""The OpenAPI 3.1 document of every HTTP route, built from the pydantic models that validate requests.

``OPERATIONS`` lists each route and method once, naming its Azure function, its request model (the one the
handler parses with), its response models and statuses; :func:`build_document` turns it into the document
served at ``GET /api/openapi.json`` and committed as ``docs/openapi.json`` (a test keeps them equal, another
that every HTTP function of the app is here, and schemathesis fuzzes the local host against it).
Imported inside handlers only: ``import function_app`` must not load pydantic.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from shared.schemas import bookings, calendars, connections, notifications, responses, webhooks
from shared.version import VERSION

Body = type[BaseModel] | str | None  # a model, "html", "redirect", "empty"

ID_PATTERN = calendars.ID_RE
_PATH_PARAMS: dict[str, dict[str, Any]] = {
    "workspace": {"type": "string", "pattern": ID_PATTERN, "description": "workspace id"},
    "user": {"type": "string", "pattern": ID_PATTERN, "description": "user id (a calendar member)"},
    "calendar": {"type": "string", "pattern": ID_PATTERN, "description": "calendar id"},
    "webhook": {"type": "string", "pattern": ID_PATTERN, "description": "webhook id, chosen by the integrator"},
    "kind": {"type": "string", "enum": ["teams", "microsoft_calendar", "google_calendar"],
             "description": "connection slot"},
    "slug": {"type": "string", "description": "the calendar's public slug"},
    "id": {"type": "string", "description": "booking id"},
    "token": {"type": "string", "description": "one-time link token"},
    "name": {"type": "string", "description": "asset file name"},
}
_MANAGE_TOKEN = {"name": "token", "in": "query", "required": True, "description": "the booking's manage token",
                 "schema": {"type": "string"}}
_VALIDATION = {"name": "validationToken", "in": "query", "required": False, "schema": {"type": "string"},
               "description": "Graph's validation request: the token is answered as text/plain (no body needed)"}
_IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False,
                    "description": "1-255 visible ASCII characters; a retry with the same key and body answers "
                                   "the first booking again (header Idempotent-Replayed: true)",
                    "schema": {"type": "string"}}

_MGMT_ERRORS: dict[int, Body] = {401: "empty", 404: responses.ErrorOut, 422: responses.ErrorOut,
                                 503: responses.ErrorOut}
_PUBLIC_ERRORS: dict[int, Body] = {404: responses.ErrorOut, 422: responses.ErrorOut, 503: responses.ErrorOut}
_BROWSER: dict[int, Body] = {302: "redirect", 400: "html", 500: "html", 503: "html"}

_DESCRIPTIONS = {
    200: "OK", 201: "Created", 204: "No content", 302: "Redirect", 304: "Not modified",
    400: "The request cannot be completed (a result page for browser routes)",
    401: "Missing or wrong function key (x-functions-key header or ?code=)", 404: "Not found",
    409: "Conflict: the slot was taken meanwhile, or the booking can no longer change", 413: "Body too large",
    422: "Invalid input: the body names the field(s) and reason(s); nothing was changed",
    429: "Too many requests: retry after Retry-After seconds", 500: "The server is not configured for this",
    503: "A dependency is busy or down: retry (after Retry-After seconds when given)",
}


@dataclass(frozen=True)
class Operation:
    """One method of one route."""

    function: str  # the Azure function's name
    method: str
    route: str  # as in the function's route, without the /api prefix
    summary: str
    tag: str
    auth: str = "function"  # or "anonymous"
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    parameters: tuple[dict[str, Any], ...] = ()
    ok: dict[int, Body] = field(default_factory=dict)
    errors: dict[int, Body] = field(default_factory=dict)
    cors: bool = False


def _mgmt(function: str, method: str, route: str, summary: str, tag: str, ok: dict[int, Body],
          body: type[BaseModel] | None = None, body_required: bool = True,
          errors: dict[int, Body] | None = None) -> Operation:
    return Operation(function, method, route, summary, tag, body=body, body_required=body_required, ok=ok,
                     errors={**_MGMT_ERRORS, **(errors or {})})


def _public(function: str, method: str, route: str, summary: str, ok: dict[int, Body], **kw: Any) -> Operation:
    errors = dict(_PUBLIC_ERRORS)
    errors.update(kw.pop("errors", {}))
    return Operation(function, method, route, summary, "public booking", auth="anonymous", ok=ok, errors=errors,
                     cors=True, **kw)


def _browser(function: str, method: str, route: str, summary: str, **kw: Any) -> Operation:
    return Operation(function, method, route, summary, "browser", auth="anonymous", ok=dict(_BROWSER), **kw)


_WS = "workspaces/{workspace}"
_USER = _WS + "/users/{user}"
_CAL = _WS + "/calendars/{calendar}"
_CONN = _USER + "/connections"
_HOOK = _WS + "/webhooks/{webhook}"
_R = responses

OPERATIONS: tuple[Operation, ...] = (
    Operation("health", "GET", "health", "Version and whether storage answers", "service", auth="anonymous",
              ok={200: _R.HealthOut}, errors={503: _R.HealthOut}),
    Operation("openapi_document", "GET", "openapi.json", "This OpenAPI document", "service", auth="anonymous",
              ok={200: "json"}),
    _mgmt("management_workspace", "PUT", _WS, "Create (201) or rename (200) a workspace", "management",
          {200: _R.WorkspaceOut, 201: _R.WorkspaceOut}, calendars.WorkspaceIn),
    _mgmt("management_workspace", "GET", _WS, "A workspace", "management", {200: _R.WorkspaceOut}),
    _mgmt("management_user", "PUT", _USER, "Create (201) or replace (200) a user", "management",
          {200: _R.UserOut, 201: _R.UserOut}, calendars.UserIn),
    _mgmt("management_user", "GET", _USER, "A user", "management", {200: _R.UserOut}),
    _mgmt("management_calendar", "PUT", _CAL, "Create (201) or replace (200) a calendar", "management",
          {200: _R.CalendarOut, 201: _R.CalendarOut}, calendars.CalendarIn),
    _mgmt("management_calendar", "GET", _CAL, "A calendar (by id or slug)", "management", {200: _R.CalendarOut}),
    _mgmt("management_calendar_diagnostics", "GET", _CAL + "/diagnostics",
          "Per member: free/busy, the Teams connection, ready and problems (id or slug)", "management",
          {200: _R.DiagnosticsOut}),
    _mgmt("management_user_backfill", "GET", _USER + "/backfill",
          "The host's last backfill sweep and its bookings awaiting a link", "management", {200: _R.BackfillOut}),
    Operation("management_user_bookings", "GET", _USER + "/bookings",
              "The host's bookings: link state, reason, next attempt, errors, participants, history", "bookings",
              query=bookings.HostBookingsQuery, ok={200: _R.HostBookingsOut}, errors=dict(_MGMT_ERRORS)),
    _mgmt("management_booking", "GET", _WS + "/bookings/{id}", "One booking of the workspace, by id", "bookings",
          {200: _R.AdminBookingOut}),
    _mgmt("management_booking_repair", "POST", _WS + "/bookings/{id}/repair",
          "Reconcile the booking now (also a failed one); the booking afterwards", "bookings",
          {200: _R.AdminBookingOut}, body_required=False),
    _mgmt("connections_create_connect_link", "POST", _CONN + "/{kind}/connect-links",
          "A one-time link the host opens to connect a Microsoft account", "connections",
          {201: connections.LinkOut}, connections.ConnectLinkIn, body_required=False),
    _mgmt("connections_list", "GET", _CONN, "Each connection slot's status", "connections",
          {200: connections.ConnectionsOut}),
    _mgmt("connections_disconnect", "DELETE", _CONN + "/{kind}", "Disconnect (tokens deleted)", "connections",
          {200: connections.ConnectionOut}),
    _mgmt("connections_link_calendar", "PUT", _CONN + "/{kind}",
          "Choose the linked Outlook calendar (microsoft_calendar only)", "connections",
          {200: connections.ConnectionOut}, connections.LinkedCalendarIn, errors={409: responses.ErrorOut}),
    _mgmt("connections_list_calendars", "GET", _CONN + "/{kind}/calendars",
          "The connected account's Outlook calendars and which one is linked (microsoft_calendar only)",
          "connections", {200: connections.CalendarsOut}, errors={409: responses.ErrorOut}),
    _mgmt("connections_create_admin_consent_link", "POST", _WS + "/admin-consent-links",
          "A one-time link for a Microsoft tenant administrator", "connections",
          {201: connections.LinkOut}, connections.AdminConsentLinkIn, body_required=False),
    Operation("webhooks_webhook", "PUT", _HOOK, "Create (201) or replace (200) a webhook (the secret is write-only)",
              "webhooks", body=webhooks.WebhookIn, ok={200: webhooks.WebhookOut, 201: webhooks.WebhookOut},
              errors={**_MGMT_ERRORS, 409: _R.ErrorOut}),
    _mgmt("webhooks_webhook", "GET", _HOOK, "A webhook (never its secret)", "webhooks", {200: webhooks.WebhookOut}),
    _mgmt("webhooks_webhook", "DELETE", _HOOK, "Delete a webhook: nothing more is delivered to it", "webhooks",
          {204: "empty"}),
    _mgmt("webhooks_deliveries", "GET", _HOOK + "/deliveries", "The webhook's newest delivery attempts",
          "webhooks", {200: webhooks.DeliveriesOut}),
    _public("public_slots", "GET", "calendars/{slug}/slots", "Free slots between two dates", {200: _R.SlotsOut},
            query=bookings.SlotsQuery, errors={429: _R.ErrorOut}),
    _public("public_create_booking", "POST", "calendars/{slug}/bookings", "Book a slot",
            {201: _R.BookingCreatedOut}, body=bookings.BookingIn, parameters=(_IDEMPOTENCY_KEY,),
            errors={409: _R.ErrorOut, 413: _R.ErrorOut, 429: _R.ErrorOut}),
    _public("public_get_booking", "GET", "bookings/{id}", "A booking (manage token)", {200: _R.BookingOut},
            parameters=(_MANAGE_TOKEN,)),
    _public("public_cancel_booking", "POST", "bookings/{id}/cancel", "Cancel a booking (manage token)",
            {200: _R.BookingOut}, parameters=(_MANAGE_TOKEN,), errors={409: _R.ErrorOut}),
    _public("public_reschedule_booking", "POST", "bookings/{id}/reschedule", "Move a booking (manage token)",
            {200: _R.BookingOut}, body=bookings.RescheduleIn, parameters=(_MANAGE_TOKEN,),
            errors={409: _R.ErrorOut, 413: _R.ErrorOut}),
    _browser("connections_open_connect_link", "GET", "connect/{token}",
             "A page with Continue to Microsoft (the link is not used up)"),
    _browser("connections_open_connect_link", "POST", "connect/{token}",
             "Uses the link: starts Microsoft sign-in (302) with the browser-binding cookie"),
    Operation("connections_open_notice_link", "GET", "reconnect/{token}", "The link in a host notice: 302 to a "
              "fresh one-time connect link, or a page (expired; already connected)", "browser", auth="anonymous",
              ok={200: "html", **_BROWSER}),
    _browser("connections_callback", "GET", "auth/microsoft/callback", "Microsoft's sign-in redirect"),
    _browser("connections_callback", "POST", "auth/microsoft/callback", "Microsoft's sign-in form post"),
    _browser("connections_google_callback", "GET", "auth/google/callback", "Google's sign-in redirect "
             "(google_calendar)"),
    _browser("connections_open_admin_consent_link", "GET", "admin-consent/{token}",
             "A page with Continue to Microsoft (the link is not used up)"),
    _browser("connections_open_admin_consent_link", "POST", "admin-consent/{token}",
             "Uses the link: starts admin consent (302) with the browser-binding cookie"),
    _browser("connections_admin_consent_callback", "GET", "auth/microsoft/admin-consent/callback",
             "Microsoft's admin-consent redirect"),
    *(Operation(function, "POST", route, summary, "Microsoft Graph notifications", auth="anonymous",
                body=notifications.ChangeNotificationCollectionIn, body_required=False, parameters=(_VALIDATION,),
                ok={200: "text", 202: notifications.NotificationsAcceptedOut},
                errors={413: responses.ErrorOut, 422: responses.ErrorOut, 503: responses.ErrorOut})
      for function, route, summary in (
          ("notifications_microsoft", "notifications/microsoft",
           "Graph change notifications on hosts' events (rule 19): the validation request is answered with its "
           "token (200 text/plain); notifications are checked (clientState) and queued (202)"),
          ("notifications_microsoft_lifecycle", "notifications/microsoft/lifecycle",
           "Graph lifecycle notifications (reauthorizationRequired, subscriptionRemoved, missed): as above"))),
    Operation("pages_booking_page", "GET", "book/{slug}", "The booking page of a calendar", "pages",
              auth="anonymous", ok={200: "html"}, errors={404: "html"}),
    Operation("pages_manage_page", "GET", "manage/{id}", "The invitee's page: see, reschedule, cancel a booking",
              "pages", auth="anonymous", ok={200: "html"}, errors={404: "html"}, parameters=(_MANAGE_TOKEN,)),
    Operation("pages_static", "GET", "static/{name}", "A static asset of the page and widget", "pages",
              auth="anonymous", ok={200: "asset", 304: "empty"}, errors={404: "empty"}),
    Operation("pages_widget_js", "GET", "widget.js", "The embeddable widget's loader", "pages", auth="anonymous",
              ok={200: "asset", 304: "empty"}),
)

_INFO_DESCRIPTION = """\
bookbridge gives booking calendars automatic Microsoft Teams meeting links.

**Authentication.** Management, connection and webhook routes need a function key: the `x-functions-key`
header (or `?code=`). Public booking routes are anonymous; the manage token returned by a booking (201)
authorizes reading, cancelling and rescheduling it (`?token=`). Browser routes (sign-in, consent, pages) are
anonymous and never take a key.

**Errors.** Every JSON error is `{"error": {"code", "message", "field"?, "reason"?, "errors"?}}`; 422 names
each invalid field and why, and nothing is changed. 503 means retry (after `Retry-After` when given).

**CORS.** Public booking routes answer browsers from the origins in `CORS_ALLOWED_ORIGINS` (or `*`):
`Access-Control-Allow-Origin`, methods `GET, POST, OPTIONS`, headers `Content-Type, Idempotency-Key`, and an
`OPTIONS` preflight (204). Management routes send no CORS headers: call them from a server.

**Webhooks.** Subscriptions (`PUT .../webhooks/{webhook}`) receive signed POSTs; see `docs/webhooks.md`.
"""


def _response(status: int, body: Body, ref: dict[str, str], cors: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"description": _DESCRIPTIONS.get(status, "")}
    if isinstance(body, type):
        out["content"] = {"application/json": {"schema": {"$ref": ref[body.__name__]}}}
    elif body == "json":
        out["content"] = {"application/json": {"schema": {"type": "object"}}}
    elif body == "html":
        out["content"] = {"text/html": {"schema": {"type": "string"}}}
    elif body == "asset":
        out["content"] = {"*/*": {"schema": {"type": "string"}}}
    elif body == "text":
        out["content"] = {"text/plain": {"schema": {"type": "string"}}}
    headers: dict[str, Any] = {}
    if body == "redirect":
        headers["Location"] = {"schema": {"type": "string"}, "description": "where the browser goes next"}
    if status in (429, 503):
        headers["Retry-After"] = {"schema": {"type": "string"}, "description": "seconds to wait, when known"}
    if status == 201 and cors:
        headers["Idempotent-Replayed"] = {"schema": {"type": "string", "enum": ["true"]},
                                          "description": "present when an Idempotency-Key answered an earlier booking"}
    if cors:
        headers["Access-Control-Allow-Origin"] = {"schema": {"type": "string"},
                                                  "description": "when the Origin is allowed (CORS_ALLOWED_ORIGINS)"}
    if headers:
        out["headers"] = headers
    return out


def _query_parameters(model: type[BaseModel], schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        if "anyOf" in prop:  # Optional[x] in a query string: absent, not null
            options = [o for o in prop.pop("anyOf") if o.get("type") != "null"]
            prop.update(options[0] if len(options) == 1 else {"anyOf": options})
            prop.pop("default", None)
        params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    return params


def _operation(op: Operation, ref: dict[str, str], defs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op.function, "summary": op.summary, "tags": [op.tag],
                           "x-azure-function": op.function}
    params = [{"name": name, "in": "path", "required": True, "schema": dict(_PATH_PARAMS[name])}
              for name in _path_names(op.route)]
    if op.query is not None:
        params.extend(_query_parameters(op.query, defs[op.query.__name__]))
    params.extend(dict(p) for p in op.parameters)
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": op.body_required,
                              "content": {"application/json": {"schema": {"$ref": ref[op.body.__name__]}}}}
    out["responses"] = {str(status): _response(status, body, ref, op.cors)
                        for status, body in sorted({**op.ok, **op.errors}.items())}
    out["security"] = [] if op.auth == "anonymous" else [{"functionKey": []}, {"functionKeyQuery": []}]
    if op.cors:
        out["x-cors"] = "CORS_ALLOWED_ORIGINS; OPTIONS preflight answered 204"
    return out


def _path_names(route: str) -> list[str]:
    return [part[1:-1] for part in route.split("/") if part.startswith("{") and part.endswith("}")]


def _models() -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}
    for op in OPERATIONS:
        for body in (op.body, op.query, *op.ok.values(), *op.errors.values()):
            if isinstance(body, type):
                seen.setdefault(body.__name__, body)
    return list(seen.values())


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (deterministic: the same code gives the same JSON)."""
    models = _models()
    keys: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, "validation" if m.__name__.endswith(("In", "Query")) else "serialization") for m in models]
    mapping, top = models_json_schema(keys, ref_template="#/components/schemas/{model}")
    ref = {m.__name__: mapping[(m, mode)]["$ref"] for m, mode in keys}
    defs = top.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    ids: dict[str, int] = {}
    for op in OPERATIONS:
        ids[op.function] = ids.get(op.function, 0) + 1
    for op in OPERATIONS:
        item = _operation(op, ref, defs)
        if ids[op.function] > 1:
            item["operationId"] = f"{op.function}_{op.method.lower()}"
        paths.setdefault(f"/api/{op.route}", {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "bookbridge API", "version": VERSION, "description": _INFO_DESCRIPTION},
        "servers": [{"url": "/", "description": "the Function App (routes carry the /api prefix)"}],
        "tags": [{"name": t} for t in dict.fromkeys(op.tag for op in OPERATIONS)],
        "paths": paths,
        "components": {
            "schemas": {name: defs[name] for name in sorted(defs)},
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                                "description": "an Azure Functions function or host key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code",
                                     "description": "the same key as a query parameter"},
            },
        },
    }


@lru_cache(maxsize=1)
def document_json() -> str:
    """The document as the JSON text served and committed (sorted keys, 2-space indent, final newline)."""
    return json.dumps(build_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.schemas.openapi [--write PATH]``: print the document, or write it to PATH."""
    import sys
    from pathlib import Path

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--write"] and len(args) == 2:
        Path(args[1]).write_text(document_json(), encoding="utf-8")
        return 0
    sys.stdout.write(document_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
