"""Shared pieces of the Graph endpoints: the call object, Graph's error shape, $select, paging."""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from .context import Context
from .state import Account, TokenRecord
from .web import Request, Response, json_response

ERROR_CODES = {400: "BadRequest", 401: "InvalidAuthenticationToken", 403: "Forbidden", 404: "ErrorItemNotFound",
               405: "BadRequest", 409: "ErrorIrresolvableConflict", 415: "UnsupportedMediaType",
               429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
               504: "GatewayTimeout"}
CALENDAR_READ = ("Calendars.Read", "Calendars.ReadWrite", "Calendars.ReadBasic", "Calendars.Read.Shared",
                 "Calendars.ReadWrite.Shared")
CALENDAR_WRITE = ("Calendars.ReadWrite", "Calendars.ReadWrite.Shared")
MEETINGS_READ = ("OnlineMeetings.Read", "OnlineMeetings.ReadWrite")
MEETINGS_WRITE = ("OnlineMeetings.ReadWrite",)
USER_READ = ("User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All", "Directory.Read.All")
DEFAULT_PAGE_SIZE = 10


class GraphError(Exception):
    """Raised by handlers to answer with Graph's error shape."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str | None, message: str, headers: dict[str, str] | None = None,
                   request_id: str | None = None) -> Response:
    """``{"error": {"code", "message", "innerError": {date, request-id, client-request-id}}}``."""
    rid = request_id or str(uuid.uuid4())
    body = {"error": {"code": code or ERROR_CODES.get(status, "generalException"), "message": message,
                      "innerError": {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                                     "request-id": rid, "client-request-id": rid}}}
    return json_response(status, body, {"request-id": rid, "client-request-id": rid, **(headers or {})})


@dataclass
class GraphCall:
    """One authenticated Graph request as handlers see it."""

    ctx: Context
    req: Request
    account: Account
    token: TokenRecord
    params: dict[str, str]
    body: Any = None
    time_zone: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def upn(self) -> str:
        """The mailbox owner's UPN (lower-case)."""
        return self.account.upn.lower()

    def context_url(self, fragment: str) -> str:
        """An ``@odata.context`` URL."""
        return f"{self.ctx.graph_base_url}/$metadata#{fragment}"

    def require_scope(self, allowed: Iterable[str], *, code: str = "ErrorAccessDenied",
                      message: str = "Access is denied. Check credentials and try again.") -> None:
        """403 unless the token carries one of ``allowed`` (or ``.default``)."""
        have = {s.lower() for s in self.token.scopes}
        if ".default" in have or have & {a.lower() for a in allowed}:
            return
        raise GraphError(403, code, message)


def select_fields(call: GraphCall, type_name: str) -> list[str] | None:
    """The ``$select`` list validated against the contract (``None`` when absent)."""
    raw = call.req.query.get("$select")
    if not raw:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    known = set(call.ctx.contract.properties(type_name)) | set(call.ctx.contract.navigation(type_name))
    for n in names:
        if n not in known:
            raise GraphError(400, "RequestBroker--ParseUri",
                             f"Could not find a property named '{n}' on type 'microsoft.graph.{type_name}'.")
    return names


def apply_select(item: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """Keep ``id``, annotations and the selected properties."""
    if fields is None:
        return item
    keep = set(fields) | {"id"}
    return {k: v for k, v in item.items() if k in keep or k.startswith("@odata.")}


def page_of(call: GraphCall, items: list[dict[str, Any]], context: str, path: str) -> dict[str, Any]:
    """A collection page honouring ``$top``/``$skip`` with ``@odata.nextLink`` (default page: 10)."""
    try:
        top = min(int(call.req.query.get("$top", DEFAULT_PAGE_SIZE)), 1000)
        skip = int(call.req.query.get("$skip", 0))
    except ValueError as exc:
        raise GraphError(400, "BadRequest", "Invalid $top or $skip value.") from exc
    if top < 0 or skip < 0:
        raise GraphError(400, "BadRequest", "Invalid $top or $skip value.")
    chunk = items[skip:skip + top]
    body: dict[str, Any] = {"@odata.context": call.context_url(context), "value": chunk}
    if skip + top < len(items):
        query = {k: v for k, v in call.req.query.items() if k not in ("$skip",)}
        query["$skip"] = str(skip + top)
        body["@odata.nextLink"] = f"{call.ctx.base_url}{path}?{urlencode(query)}"
    return body


def read_body(call: GraphCall, type_name: str | None = None, action: str | None = None,
              binding: str | None = None) -> dict[str, Any]:
    """The JSON body, validated against a type or an action's parameters (400 RequestBodyRead otherwise)."""
    body = call.body
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected." if body is None
                         else "The request body must be a JSON object.")
    if action:
        problems = call.ctx.contract.validate_action(action, body, binding=binding)
    else:
        problems = call.ctx.contract.validate(body, type_name or "entity")
    if problems:
        first = problems[0]
        detail = "; ".join(str(p) for p in problems[:5])
        raise GraphError(400, "RequestBodyRead", f"{first.message} ({detail})" if len(problems) > 1
                         else f"{first.message} ({first.path})")
    return body
