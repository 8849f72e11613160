"""Admin consent: a one-time link to ``/{tenant}/v2.0/adminconsent`` and its callback (``error`` first)."""
from __future__ import annotations

import pytest

from shared.errors import NotFound, ValidationError
from shared.usecases import connections as uc
from tests.unit.connections.helpers import (
    CLIENT_ID,
    CONTOSO,
    FABRIKAM,
    MICROSOFT_HOST,
    PUBLIC_BASE,
    RETURN_URL,
    location_query,
)


def _open(deps, tenant=None, return_url=RETURN_URL):
    link = uc.create_admin_consent_link(deps, "ws1", tenant, return_url)
    return link, uc.open_admin_consent_link(deps, link["url"].rsplit("/", 1)[1])


def test_admin_consent_link_redirects_to_the_adminconsent_endpoint(deps):
    link, opened = _open(deps, tenant=CONTOSO)
    assert link["url"].startswith(f"{PUBLIC_BASE}/api/admin-consent/") and link["tenant"] == CONTOSO
    assert opened.redirect_to.startswith(f"{MICROSOFT_HOST}/{CONTOSO}/v2.0/adminconsent?")
    q = location_query(opened.redirect_to)
    assert q["client_id"] == CLIENT_ID
    assert q["redirect_uri"] == f"{PUBLIC_BASE}/api/auth/microsoft/admin-consent/callback"
    assert "https://graph.microsoft.com/OnlineMeetings.ReadWrite" in q["scope"].split()
    assert "https://graph.microsoft.com/Calendars.ReadWrite" in q["scope"].split()
    assert q["state"]
    _, opened = _open(deps)
    assert opened.redirect_to.startswith(f"{MICROSOFT_HOST}/organizations/v2.0/adminconsent?")


def test_granted_consent_is_recorded(deps):
    _, opened = _open(deps, tenant=CONTOSO)
    state = location_query(opened.redirect_to)["state"]
    result = uc.complete_admin_consent(deps, {"admin_consent": "True", "tenant": CONTOSO, "state": state,
                                              "scope": "https://graph.microsoft.com/User.Read"})
    assert result.ok
    assert location_query(result.redirect_to) == {"tab": "video", "status": "granted", "tenant": CONTOSO}
    row = deps.store.get("adminconsents", "ws1", CONTOSO)
    assert row["granted_at"] == "2026-11-23T08:00:00Z" and row["tenant"] == CONTOSO
    replay = uc.complete_admin_consent(deps, {"admin_consent": "True", "tenant": CONTOSO, "state": state})
    assert (replay.http_status, replay.reason) == (400, "invalid_state")


def test_error_is_checked_not_only_admin_consent(deps):
    _, opened = _open(deps)
    state = location_query(opened.redirect_to)["state"]
    result = uc.complete_admin_consent(deps, {
        "error": "access_denied", "error_description": "AADSTS65004: User declined to consent to access the app.",
        "admin_consent": "True", "tenant": CONTOSO, "state": state})
    assert not result.ok and location_query(result.redirect_to)["reason"] == "access_denied"
    assert deps.store.all("adminconsents") == []


@pytest.mark.parametrize("params", [
    {"admin_consent": "False", "tenant": CONTOSO},
    {"admin_consent": "True", "tenant": "not-a-guid"},
    {"admin_consent": "True"},
    {"error": "invalid_request", "error_description": "AADSTS900144: bad"},
])
def test_unconfirmed_consent_is_not_recorded(deps, params):
    _, opened = _open(deps, return_url=None)
    state = location_query(opened.redirect_to)["state"]
    result = uc.complete_admin_consent(deps, {**params, "state": state})
    assert not result.ok and result.http_status == 400 and result.redirect_to is None
    assert deps.store.all("adminconsents") == []


def test_admin_consent_state_is_checked(deps):
    _, opened = _open(deps)
    for params in ({}, {"state": "forged"}, {"state": location_query(opened.redirect_to)["state"] + "x"}):
        result = uc.complete_admin_consent(deps, {"admin_consent": "True", "tenant": CONTOSO, **params})
        assert (result.http_status, result.reason) == (400, "invalid_state")
    deps.clock.advance(minutes=11)
    result = uc.complete_admin_consent(deps, {"admin_consent": "True", "tenant": CONTOSO,
                                              "state": location_query(opened.redirect_to)["state"]})
    assert result.reason == "invalid_state"
    assert deps.store.all("adminconsents") == []


def test_admin_consent_link_is_one_time_and_validated(deps):
    link, _ = _open(deps)
    token = link["url"].rsplit("/", 1)[1]
    assert uc.open_admin_consent_link(deps, token).reason == "link_used"
    # a connect-link token is not an admin-consent token, and the reverse
    connect_token = uc.create_connect_link(deps, "ws1", "u1", "teams", None)["url"].rsplit("/", 1)[1]
    assert uc.open_admin_consent_link(deps, connect_token).reason == "link_invalid"
    with pytest.raises(ValidationError):
        uc.create_admin_consent_link(deps, "ws1", "common", None)
    with pytest.raises(ValidationError):
        uc.create_admin_consent_link(deps, "ws1", None, "not a url")
    with pytest.raises(NotFound):
        uc.create_admin_consent_link(deps, "nowhere", None, None)


def test_a_callback_naming_another_tenant_stores_nothing(deps):
    """Issue 17: the callback's ``tenant`` is only believed when it is the tenant the link was made for."""
    _, opened = _open(deps, tenant=CONTOSO)
    state = location_query(opened.redirect_to)["state"]
    result = uc.complete_admin_consent(deps, {"admin_consent": "True", "tenant": FABRIKAM, "state": state})
    assert not result.ok and result.reason == "tenant_mismatch"
    assert deps.store.all("adminconsents") == []


@pytest.mark.parametrize("tenant", [None, "contoso.example"])
def test_a_link_without_a_tenant_id_records_nothing_and_says_so(deps, tenant):
    _, opened = _open(deps, tenant=tenant, return_url=None)
    state = location_query(opened.redirect_to)["state"]
    result = uc.complete_admin_consent(deps, {"admin_consent": "True", "tenant": CONTOSO, "state": state})
    assert not result.ok and result.reason == "tenant_unverified"
    assert "tenant id" in result.message
    assert deps.store.all("adminconsents") == []


def test_an_admin_consent_finished_in_another_browser_stores_nothing(deps):
    link = uc.create_admin_consent_link(deps, "ws1", CONTOSO, None)
    opened = uc.open_admin_consent_link(deps, link["url"].rsplit("/", 1)[1], "browser-a-binding-value-0123456789")
    state = location_query(opened.redirect_to)["state"]
    result = uc.complete_admin_consent(deps, {"admin_consent": "True", "tenant": CONTOSO, "state": state},
                                       "browser-b-binding-value-0123456789")
    assert not result.ok and result.reason == "other_browser"
    assert deps.store.all("adminconsents") == []
