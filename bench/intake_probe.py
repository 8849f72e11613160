"""Run in a fresh process by the intake figure: ``import function_app``, ONE intake call, then which of the
heavy dependencies are in ``sys.modules`` (msal must not be: the HTTP intake path never needs it)."""
from __future__ import annotations

import json
import os
import sys
from typing import Any

HEAVY = ("msal", "requests", "cryptography", "icalendar", "azure.identity", "pydantic", "azure.data.tables",
         "azure.storage.queue", "jwt")


def probe(connection_string: str, slug: str, start_iso: str) -> dict[str, Any]:
    """Book ``start_iso`` on ``slug`` through the intake function with the process's own container."""
    os.environ["AzureWebJobsStorage"] = connection_string
    os.environ.setdefault("LINK_SIGNING_KEY", "bench-intake-probe-signing-key-0123456789")
    import azure.functions as func

    import function_app  # noqa: F401 - what the Functions host imports
    from functions import public_booking
    from shared import bootstrap

    bootstrap.install(None)
    loaded_before = {name: name in sys.modules for name in HEAVY}
    body = {"start": start_iso, "name": "Probe Person", "email": "probe@example.org", "timezone": "UTC"}
    req = func.HttpRequest("POST", f"http://localhost/api/calendars/{slug}/bookings", headers={},
                           params={}, route_params={"slug": slug}, body=json.dumps(body).encode())
    resp = public_booking.public_create_booking.build().get_user_function()(req)
    return {
        "status": resp.status_code,
        "loaded_before_call": loaded_before,
        "loaded_after_call": {name: name in sys.modules for name in HEAVY},
    }
