"""Hold every Google request a test sends (and every answer a test's fake or stand-in gives) to the contract.

``devhost/googlestandin/contract/calendar-v3-subset.json`` is the part of Google Calendar v3's discovery
document bookbridge uses; ``devhost.google_contract`` validates against it. A test hands over what went
over the wire (``responses``' calls)::

    problems = check_calls(rsps.calls, CALENDAR_BASE, TOKEN_URL)
    assert problems == []

A request with a body to a Calendar path the contract does not know is a problem too.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devhost.google_contract import load_contract


def _json(raw: Any) -> Any:
    if raw in (None, b"", ""):
        return None
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8")
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def exchange_problems(method: str, url: str, body: Any, status: int, answer: Any, token_url: str = "") -> list[str]:
    """Contract problems of one exchange with Google (a Calendar call or the token endpoint)."""
    contract = load_contract()
    parts = urlsplit(url)
    where = f"{method} {parts.path}"
    if token_url and url.split("?")[0] == token_url:
        form = dict(parse_qsl(body.decode() if isinstance(body, bytes) else str(body or "")))
        found = [f"{where}: {p}" for p in contract.check_token_request(form)]
        if isinstance(answer, dict):
            found += [f"answer to {where}: {p}" for p in contract.check_token_response(answer)]
        return found
    method_id = contract.method_for(method, parts.path)
    if method_id is None:
        return [f"{where}: not a Calendar v3 method of the contract"]
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    found = [f"{where}: {p}" for p in contract.check_request(method_id, query, _json(body))]
    if 200 <= status < 300 and answer not in (None, ""):
        found += [f"answer to {where}: {p}" for p in contract.check_response(method_id, answer)]
    return found


def check_calls(calls: Iterable[Any], calendar_base: str, token_url: str = "") -> list[str]:
    """Problems of every request to ``calendar_base`` or ``token_url`` in ``responses``' ``calls``."""
    problems: list[str] = []
    for call in calls:
        request, response = call.request, call.response
        url = str(request.url)
        if not (url.startswith(calendar_base) or (token_url and url.startswith(token_url))):
            continue
        answer, status = None, 0
        if response is not None and not isinstance(response, Exception):
            status = response.status_code
            if "json" in response.headers.get("Content-Type", "") and response.content:
                answer = _json(response.content)
        problems += exchange_problems(request.method.upper(), url, request.body, status, answer, token_url)
    return problems
