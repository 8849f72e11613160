"""The MSAL adapter: configuration, one place for MSAL, metadata reuse, failures as our errors."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
import responses

from shared.adapters.microsoft_identity import MicrosoftIdentity
from shared.errors import ConfigurationError, TransientError
from shared.settings import Settings
from shared.usecases import connections as uc
from tests.unit.connections.helpers import ALICE, CLIENT_ID, CLIENT_SECRET, MICROSOFT_HOST, connect

ROOT = Path(__file__).resolve().parents[3]


def test_msal_is_imported_by_the_identity_adapter_only():
    importers = []
    for folder in ("shared", "functions"):
        for path in (ROOT / folder).rglob("*.py"):
            if re.search(r"^\s*(import msal|from msal)", path.read_text(encoding="utf-8"), re.MULTILINE):
                importers.append(path.relative_to(ROOT).as_posix())
    assert importers == ["shared/adapters/microsoft_identity.py"]


def test_from_settings_and_https_only():
    session = requests.Session()
    ident = MicrosoftIdentity.from_settings(Settings({"MICROSOFT_CLIENT_ID": CLIENT_ID,
                                                      "MICROSOFT_CLIENT_SECRET": CLIENT_SECRET}), session)
    assert ident.authority == f"{MICROSOFT_HOST}/organizations"
    assert CLIENT_SECRET not in repr(ident)
    local = MicrosoftIdentity.from_settings(Settings({
        "MICROSOFT_CLIENT_ID": CLIENT_ID, "MICROSOFT_CLIENT_SECRET": CLIENT_SECRET,
        "MICROSOFT_AUTHORITY_HOST": "https://127.0.0.1:8443/"}), session)
    assert local.authority == "https://127.0.0.1:8443/organizations"
    with pytest.raises(ConfigurationError, match="https"):
        MicrosoftIdentity(CLIENT_ID, CLIENT_SECRET, session, authority_host="http://127.0.0.1:8443")
    with pytest.raises(ConfigurationError, match="MICROSOFT_CLIENT_ID"):
        MicrosoftIdentity.from_settings(Settings({}), session)


def test_authority_metadata_is_fetched_once_per_process(deps, ms, rsps):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    connect(deps, ms, "ws1", "u2", "teams", ALICE)
    uc.get_access_token(deps, "ws1", "u1", "teams", force_refresh=True)
    discovery = [c for c in rsps.calls if c.request.url.endswith("/.well-known/openid-configuration")]
    assert len(discovery) == 1


def test_unreachable_metadata_is_transient(deps):
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, f"{MICROSOFT_HOST}/organizations/v2.0/.well-known/openid-configuration", status=503)
        link = uc.create_connect_link(deps, "ws1", "u1", "teams", None)
        with pytest.raises(TransientError):
            uc.open_connect_link(deps, link["url"].rsplit("/", 1)[1])
    assert deps.store.all("authflows") == []
    assert deps.store.all("connectlinks")[0]["used"] is False  # the link is not burnt by an outage


def test_token_endpoint_outage_at_the_callback_is_a_clear_result(deps, ms, rsps):
    link = uc.create_connect_link(deps, "ws1", "u1", "teams", None)
    opened = uc.open_connect_link(deps, link["url"].rsplit("/", 1)[1])
    params = ms.sign_in(opened.redirect_to, ALICE)
    rsps.replace(responses.POST, ms.token_endpoint, body=requests.ConnectionError("down"))
    result = uc.complete_sign_in(deps, params)
    assert (result.ok, result.http_status, result.reason) == (False, 503, "temporarily_unavailable")
    assert deps.store.all("connections") == [] and deps.store.all("tokencaches") == []


def test_refresh_network_failure_is_transient(deps, ms, rsps):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    rsps.replace(responses.POST, ms.token_endpoint, body=requests.ConnectionError("down"))
    with pytest.raises(TransientError):
        uc.get_access_token(deps, "ws1", "u1", "teams", force_refresh=True)
    assert uc.get_connection(deps, "ws1", "u1", "teams")["status"] == "connected"
