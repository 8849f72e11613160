"""Hold every Microsoft Graph body a test sends (and every body a test's stand-in returns) to the contract.

``../shared/graph-contract/graph-v1.0-subset.json`` lists the types, enums and actions bookbridge may
use; ``devhost.graph_contract`` validates a body against one of them. This module knows which type or
action each Graph endpoint takes, so a test only has to hand over what went over the wire::

    with responses.RequestsMock() as rsps:
        ...                                   # the code under test talks to GRAPH_BASE
        problems = check_calls(rsps.calls, GRAPH_BASE)
    assert problems == []

A request with a JSON body to a Graph endpoint this module does not know is a problem too (add the
endpoint here with its type), so nothing reaches Graph unchecked.
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from devhost.graph_contract import load_contract

_ID = r"[^/]+"


@dataclass(frozen=True)
class Endpoint:
    """A Graph endpoint: method, path pattern (after the version), and what its body and answer are."""

    method: str
    pattern: str
    request: tuple[str, ...] | None      # ("type", name) | ("action", name, binding) | None (no body)
    response: str | None = None          # type of the JSON answer ("event"), or None
    collection: bool = False              # the answer is {"value": [...]} of ``response``
    name: str = ""

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.fullmatch(self.pattern, path) is not None


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("POST", r"/me/events", ("type", "event"), "event", name="create event"),
    Endpoint("POST", rf"/me/calendars/{_ID}/events", ("type", "event"), "event", name="create event in calendar"),
    Endpoint("GET", r"/me/events", None, "event", collection=True, name="list events"),
    Endpoint("GET", rf"/me/events/{_ID}", None, "event", name="get event"),
    Endpoint("PATCH", rf"/me/events/{_ID}", ("type", "event"), "event", name="update event"),
    Endpoint("DELETE", rf"/me/events/{_ID}", None, None, name="delete event"),
    Endpoint("POST", rf"/me/events/{_ID}/cancel", ("action", "cancel", "event"), None, name="cancel event"),
    Endpoint("POST", r"/me/onlineMeetings/createOrGet", ("action", "createOrGet", "onlineMeeting"), "onlineMeeting",
             name="createOrGet online meeting"),
    Endpoint("POST", r"/me/onlineMeetings", ("type", "onlineMeeting"), "onlineMeeting", name="create online meeting"),
    Endpoint("GET", r"/me/onlineMeetings", None, "onlineMeeting", collection=True,
             name="find online meeting by join URL"),
    Endpoint("PATCH", rf"/me/onlineMeetings/{_ID}", ("type", "onlineMeeting"), "onlineMeeting",
             name="update online meeting"),
    Endpoint("DELETE", rf"/me/onlineMeetings/{_ID}", None, None, name="delete online meeting"),
    Endpoint("POST", r"/me/calendar/getSchedule", ("action", "getSchedule", "calendar"), "scheduleInformation",
             collection=True, name="getSchedule"),
    Endpoint("GET", r"/me", None, "user", name="me"),
    Endpoint("GET", r"/me/calendars", None, "calendar", collection=True, name="list calendars"),
)

# Read-only properties Graph computes: a request body must not set them.
READ_ONLY = {
    "event": {"id", "changeKey", "createdDateTime", "lastModifiedDateTime", "iCalUId", "webLink", "isOrganizer",
              "onlineMeeting", "onlineMeetingUrl", "bodyPreview", "hasAttachments", "isCancelled",
              "responseStatus", "seriesMasterId", "type", "originalStart"},
    "onlineMeeting": {"id", "joinWebUrl", "creationDateTime", "chatInfo", "videoTeleconferenceId"},
}


def _path(url: str, base: str) -> str | None:
    """The path after ``base`` (decoded, no query), or None when ``url`` is not under ``base``."""
    base_parts = urlsplit(base.rstrip("/"))
    parts = urlsplit(url)
    if (parts.scheme, parts.netloc) != (base_parts.scheme, base_parts.netloc):
        return None
    if not parts.path.startswith(base_parts.path):
        return None
    # ids stay percent-encoded: an encoded '/' keeps an id one path segment
    return parts.path[len(base_parts.path):] or "/"


def endpoint_for(method: str, path: str) -> Endpoint | None:
    """The known endpoint of a request, or None."""
    for ep in ENDPOINTS:
        if ep.matches(method.upper(), path):
            return ep
    return None


def _json(raw: Any) -> tuple[bool, Any]:
    if raw is None or raw == b"" or raw == "":
        return False, None
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8")
    try:
        return True, json.loads(raw)
    except ValueError:
        return True, raw


def request_problems(method: str, path: str, body: Any) -> list[str]:
    """Contract problems of one request body (``body`` already parsed; None = no body)."""
    contract = load_contract()
    ep = endpoint_for(method, path)
    where = f"{method} {path}"
    if body is None:
        if ep is not None and ep.request is not None:
            return [f"{where}: a JSON body is required"]
        return []
    if ep is None:
        return [f"{where}: a body was sent to an endpoint tests/graph_contract_check.py does not know"]
    if ep.request is None:
        return [f"{where}: this endpoint takes no body"]
    if ep.request[0] == "type":
        problems = [f"{where}: {p}" for p in contract.validate(body, ep.request[1])]
        if isinstance(body, dict):
            problems += [f"{where}: $.{k}: read-only property set in a request"
                         for k in body if k in READ_ONLY.get(ep.request[1], set())]
        return problems
    return [f"{where}: {p}" for p in contract.validate_action(ep.request[1], body, binding=ep.request[2])]


def response_problems(method: str, path: str, status: int, body: Any) -> list[str]:
    """Contract problems of a 2xx answer a stand-in gave (errors are Graph's error shape: not checked)."""
    if body is None or not 200 <= status < 300:
        return []
    ep = endpoint_for(method, path)
    where = f"answer to {method} {path}"
    if ep is None or ep.response is None:
        return [f"{where}: unexpected JSON answer"] if ep is None else []
    contract = load_contract()
    if ep.collection:
        if not isinstance(body, dict) or not isinstance(body.get("value"), list):
            return [f"{where}: expected {{'value': [...]}}"]
        extra = [k for k in body if k != "value" and not k.startswith("@odata.")]
        problems = [f"{where}: unexpected member {k!r}" for k in extra]
        found = contract.validate(body["value"], f"Collection(graph.{ep.response})")
        return problems + [f"{where}: {p}" for p in found]
    return [f"{where}: {p}" for p in contract.validate(body, ep.response)]


@dataclass
class CheckedCall:
    """One Graph exchange that was checked."""

    method: str
    path: str
    endpoint: str
    request_body: Any
    problems: list[str] = field(default_factory=list)


class Ledger:
    """Every Graph exchange checked in this process (to show coverage: which endpoints were exercised)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[CheckedCall] = []

    def add(self, call: CheckedCall) -> None:
        with self._lock:
            self.calls.append(call)

    def endpoints(self) -> set[str]:
        with self._lock:
            return {c.endpoint for c in self.calls}


LEDGER = Ledger()


def check_calls(calls: Iterable[Any], graph_base: str, *, ledger: Ledger | None = LEDGER) -> list[str]:
    """Problems of every request to ``graph_base`` in ``responses``' ``calls`` (and of the mocked answers)."""
    problems: list[str] = []
    for call in calls:
        request, response = call.request, call.response
        path = _path(request.url, graph_base)
        if path is None:
            continue
        method = request.method.upper()
        has_body, body = _json(request.body)
        found = request_problems(method, path, body if has_body else None)
        if response is not None and not isinstance(response, Exception):
            content_type = response.headers.get("Content-Type", "")
            if "json" in content_type and response.content:
                _, answer = _json(response.content)
                found += response_problems(method, path, response.status_code, answer)
        ep = endpoint_for(method, path)
        if ledger is not None:
            ledger.add(CheckedCall(method, path, ep.name if ep else f"{method} {path}",
                                   body if has_body else None, found))
        problems += found
    return problems
