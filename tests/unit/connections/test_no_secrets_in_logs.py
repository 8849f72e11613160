"""No token, code, state, secret or personal data reaches a log line (all loggers at DEBUG, msal included)."""
from __future__ import annotations

import json
import logging

import pytest

from shared.adapters.microsoft_identity import redact
from shared.errors import ReauthRequired
from shared.usecases import connections as uc
from tests.unit.connections.helpers import ALICE, BOB, CLIENT_SECRET, PERSONAL, SIGNING_KEY, connect, location_query


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("msal", "msal.token_cache", "msal.application", "urllib3", "requests", "responses", "azure",
                 "bookbridge"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _everything_logged(caplog) -> str:
    lines = [caplog.text]
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.append(repr(record.args))
        if record.exc_text:
            lines.append(record.exc_text)
    return "\n".join(lines)


def test_no_secret_in_any_log_line(deps, ms, all_logs):
    secrets: set[str] = {CLIENT_SECRET, SIGNING_KEY}
    # connect links (their tokens), a full connect, a replayed state, a personal account, a refresh
    link = uc.create_connect_link(deps, "ws1", "u1", "teams", None)
    token = link["url"].rsplit("/", 1)[1]
    secrets.add(token)
    opened = uc.open_connect_link(deps, token)
    params = ms.sign_in(opened.redirect_to, ALICE)
    assert uc.complete_sign_in(deps, params).ok
    assert not uc.complete_sign_in(deps, params).ok
    assert not connect(deps, ms, "ws1", "u2", "teams", PERSONAL).ok
    connect(deps, ms, "ws2", "u1", "teams", BOB)
    uc.get_access_token(deps, "ws1", "u1", "teams", force_refresh=True)
    ms.refresh_failure = {"error": "invalid_grant", "code": 50173, "text": "revoked for alice@contoso.example"}
    with pytest.raises(ReauthRequired):
        uc.get_access_token(deps, "ws1", "u1", "teams", force_refresh=True)
    admin = uc.create_admin_consent_link(deps, "ws1", None, None)["url"].rsplit("/", 1)[1]
    secrets.add(admin)
    state = location_query(uc.open_admin_consent_link(deps, admin).redirect_to)["state"]
    secrets.add(state)
    uc.complete_admin_consent(deps, {"admin_consent": "True", "tenant": ALICE["tid"], "state": state})

    secrets |= ms.all_secrets()
    assert any(s.startswith("rt-") for s in secrets) and any(s.startswith("code-") for s in secrets)
    personal = {ALICE["upn"], BOB["upn"], PERSONAL["upn"], ALICE["name"], BOB["name"]}
    logged = _everything_logged(all_logs)
    assert any(r.name.startswith("msal") for r in all_logs.records)  # MSAL did log, at DEBUG
    assert any(r.name == "bookbridge.connections" for r in all_logs.records)
    leaks = sorted(s[:12] + "..." for s in secrets | personal if s and s in logged)
    assert leaks == [], f"secrets or personal data in logs: {leaks}"


def test_redact_handles_msal_event_json_query_strings_and_jwts():
    event = json.dumps({"data": {"code": "C0DE", "code_verifier": "V3R", "client_secret": "S3C", "scope": ["x"]},
                        "response": {"access_token": "AT", "client_info": "CI", "scope": "a b"}}, indent=4)
    out = redact(event)
    for value in ("C0DE", "V3R", "S3C", "\"AT\"", "CI"):
        assert value not in out
    assert '"scope": "a b"' in out
    assert redact("GET /x?code=abc&state=def&x=1") == "GET /x?code=********&state=********&x=1"
    assert redact("token eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.sig here") == "token ******** here"
    assert redact("{'refresh_token': 'rt-1', 'n': 1}") == "{'refresh_token': '********', 'n': 1}"
