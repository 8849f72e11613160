"""``GET /me/calendarView/delta`` ("event: delta"; "Get incremental changes to events in a calendar view").

A round starts with ``startDateTime`` and ``endDateTime`` (required, like ``calendarView``): every event of the
window (a full synchronization), page by page through ``@odata.nextLink`` (``$skiptoken``), the last page
carrying ``@odata.deltaLink`` (``$deltatoken``). The delta link's next round answers only what changed since:
an event created or updated in the window with its properties, and one deleted (or moved out of the window) as
``{"id", "@removed": {"reason": "deleted"}}``. Query parameters other than the tokens belong to the first
request; the state tokens are opaque. ``Prefer: odata.maxpagesize=N`` sets the page size.
"""
from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import urlencode

from .graph_common import CALENDAR_READ, GraphCall, GraphError
from .timezones import parse_dto
from .web import Response, Router, json_response

DEFAULT_PAGE = 10
MAX_PAGE = 1000


def register(router: Router, cal_prefix: str) -> None:
    """Add the route (``cal_prefix``: the ``/me[/calendar|/calendars/{cid}]`` pattern of graph_events)."""
    router.add("GET", cal_prefix + r"/calendarView/delta", calendar_view_delta)


def _encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(token: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return data
    except (ValueError, json.JSONDecodeError) as exc:
        raise GraphError(400, "BadRequest", "The state token is invalid.") from exc


def _page_size(call: GraphCall) -> int:
    m = re.search(r"odata\.maxpagesize\s*=\s*(\d+)", call.req.header("prefer") or "")
    return max(1, min(int(m.group(1)), MAX_PAGE)) if m else DEFAULT_PAGE


def _start_state(call: GraphCall, cid: str) -> dict[str, Any]:
    q = call.req.query
    lo, hi = q.get("startDateTime") or q.get("startdatetime"), q.get("endDateTime") or q.get("enddatetime")
    if not lo or not hi:
        raise GraphError(400, "ErrorInvalidParameter", "This request requires a time window specified by the "
                         "query string parameters StartDateTime and EndDateTime.")
    try:
        parse_dto(lo), parse_dto(hi)
    except ValueError as exc:
        raise GraphError(400, "ErrorInvalidParameter", f"Invalid startDateTime or endDateTime: {exc}") from exc
    return {"cid": cid, "lo": lo, "hi": hi, "since": None, "upto": None, "skip": 0}


def _items(call: GraphCall, st: dict[str, Any]) -> list[dict[str, Any]]:
    from .graph_events import render

    lo, hi = parse_dto(st["lo"]), parse_dto(st["hi"])
    box = call.ctx.state.mailbox(call.upn)
    in_window = {e.id: e for e in box.events.values() if e.calendar_id == st["cid"] and e.start < hi and e.end > lo}
    if st["since"] is None:
        return [render(call, e) for e in sorted(in_window.values(), key=lambda e: (e.start, e.id))]
    changed: list[str] = []
    for seq, eid in box.changes:
        if st["since"] < seq <= st["upto"] and eid not in changed:
            changed.append(eid)
    return [render(call, in_window[eid]) if eid in in_window else {"id": eid, "@removed": {"reason": "deleted"}}
            for eid in changed]


def calendar_view_delta(call: GraphCall) -> Response:
    """One page of a delta round."""
    from .graph_events import calendar_id

    call.require_scope(CALENDAR_READ)
    q = call.req.query
    token = q.get("$deltatoken") or q.get("$skiptoken")
    st = _decode(token) if token else _start_state(call, calendar_id(call))
    if q.get("$deltatoken"):
        st = {**st, "skip": 0, "upto": None}
    with call.ctx.state.lock:
        if st["upto"] is None:
            st["upto"] = call.ctx.state.change_seq
        items = _items(call, st)
    size, skip = _page_size(call), int(st.get("skip") or 0)
    for item in items[skip:skip + size]:
        problems = [] if "@removed" in item else call.ctx.contract.validate(item, "event")
        if problems:
            raise GraphError(500, "StandInContractViolation", "; ".join(str(p) for p in problems[:5]))
    body: dict[str, Any] = {"@odata.context": call.context_url("Collection(event)"), "value": items[skip:skip + size]}
    path = f"{call.ctx.base_url}{call.req.path}"
    if skip + size < len(items):
        body["@odata.nextLink"] = f"{path}?{urlencode({'$skiptoken': _encode({**st, 'skip': skip + size})})}"
    else:
        nxt = {"cid": st["cid"], "lo": st["lo"], "hi": st["hi"], "since": st["upto"], "upto": None, "skip": 0}
        body["@odata.deltaLink"] = f"{path}?{urlencode({'$deltatoken': _encode(nxt)})}"
    return json_response(200, body)
