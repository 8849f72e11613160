"""Schemathesis, a tool we did not write, fuzzes every operation of the OpenAPI document against the local host.

Checks: ``not_a_server_error`` (no input makes the app answer 5xx), ``status_code_conformance`` (every status is
documented) and ``response_schema_conformance`` (every JSON body matches its documented schema). Examples are
bounded and derandomized (the same run every time); half of the cases of an operation take the path of a seeded
workspace, user, calendar and booking, so the fuzzed query and body reach the use cases, not only a 404.
"""
from __future__ import annotations

import itertools
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from devhost.smoke import Client
from shared.schemas.openapi import build_document
from tests.e2e.conftest import around_the_clock_calendar

MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
SCHEMA = schemathesis.openapi.from_dict(build_document())
_COUNTER = itertools.count()


@pytest.fixture(scope="module")
def seeded(client: Client) -> dict[str, Any]:
    """A workspace with a user, a calendar and one booking; ids the fuzzed cases may point at."""
    ws = "fuzz-ws"
    assert client.mgmt("PUT", f"/workspaces/{ws}", json={"name": "fuzz"}).status_code in (200, 201)
    client.put_user(ws, "fuzz-host", "Fuzz Host", "host@fuzz.example")
    slug = "fuzz-cal"
    client.put_calendar(ws, "fuzz-cal", {"slug": slug, **around_the_clock_calendar("fuzz-host", provider="none")})
    slots = client.http.get(f"{client.base}/api/calendars/{slug}/slots",
                            params={"start": "2099-01-01", "end": "2099-01-01"}, timeout=30)
    assert slots.status_code == 200, slots.text
    view = client.http.get(f"{client.base}/api/calendars/{slug}/slots", timeout=30)
    assert view.status_code == 422  # start and end are required
    return {"workspace": ws, "user": "fuzz-host", "calendar": "fuzz-cal", "slug": slug, "kind": "teams",
            "webhook": "fuzz-hook"}


def _point_at_seeded(case: Any, seeded: dict[str, Any]) -> None:
    if case.path_parameters and next(_COUNTER) % 2 == 0:
        for name in list(case.path_parameters):
            if name in seeded:
                case.path_parameters[name] = seeded[name]


@SCHEMA.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case: Any, client: Client, seeded: dict[str, Any]) -> None:
    _point_at_seeded(case, seeded)
    case.call_and_validate(base_url=client.base, headers={"x-functions-key": client.function_key}, checks=CHECKS,
                           timeout=30)
