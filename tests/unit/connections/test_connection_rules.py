"""Pure rules of Microsoft connections: accounts (rule 5), transitions (rule 6), error mapping, URLs."""
from __future__ import annotations

import json

import pytest

from shared.domain import connections as rules
from shared.domain.model import PERSONAL_ACCOUNT_TENANT_ID, ConnectionKind

ALICE = rules.MicrosoftAccount(oid="oid-a", tid="tid-1", upn="alice@contoso.example", display_name="Alice")
BOB = rules.MicrosoftAccount(oid="oid-b", tid="tid-1", upn="bob@contoso.example", display_name="Bob")


# ----------------------------------------------------------------------------- rule 5
def test_work_account_is_accepted_with_upn_and_name():
    check = rules.check_account({"oid": "o", "tid": "t", "preferred_username": "a@b.example", "name": "A"})
    assert check.refusal is None
    assert check.account == rules.MicrosoftAccount("o", "t", "a@b.example", "A")


@pytest.mark.parametrize("claims", [
    {"oid": "o", "tid": PERSONAL_ACCOUNT_TENANT_ID},
    {"oid": "o", "tid": PERSONAL_ACCOUNT_TENANT_ID.upper()},
    {"oid": "o", "tid": "work-tenant", "idp": "live.com"},
    {"oid": "o", "tid": "work-tenant", "idp": "https://sts.live.com/"},
])
def test_personal_accounts_and_live_guests_are_refused(claims):
    check = rules.check_account(claims)
    assert check.account is None and check.refusal == "personal_account"
    assert "work or school" in check.message


@pytest.mark.parametrize("claims", [{"tid": "t"}, {"oid": "o"}, {}])
def test_an_account_without_ids_is_refused(claims):
    assert rules.check_account(claims).refusal == "account_incomplete"


# ----------------------------------------------------------------------------- refresh failures
@pytest.mark.parametrize(("error", "codes", "outcome", "consent"), [
    ("invalid_grant", [70000], "needs_reauth", False),
    ("invalid_grant", [70008], "needs_reauth", False),
    ("invalid_grant", [700082], "needs_reauth", False),
    ("invalid_grant", [50173], "needs_reauth", False),
    ("invalid_grant", [65001], "needs_reauth", True),
    ("interaction_required", [65001], "needs_reauth", True),
    ("invalid_grant", [90094], "needs_reauth", True),
    ("consent_required", [], "needs_reauth", True),
    ("interaction_required", [50076], "needs_reauth", False),
    ("invalid_grant", [], "needs_reauth", False),
    ("invalid_client", [7000215], "configuration", False),
    ("invalid_client", [7000222], "configuration", False),
    ("temporarily_unavailable", [], "transient", False),
    ("server_error", [], "transient", False),
])
def test_refresh_failures_map_to_a_status(error, codes, outcome, consent):
    failure = rules.classify_refresh_failure(error, "", codes)
    assert failure.outcome == outcome
    assert failure.consent_required is consent
    for code in codes:
        assert f"AADSTS{code}" in failure.reason
    assert failure.reason.startswith(error)


def test_codes_are_read_from_the_description_when_the_list_is_missing():
    failure = rules.classify_refresh_failure("invalid_grant", "AADSTS700082: The refresh token has expired")
    assert "AADSTS700082" in failure.reason and failure.outcome == "needs_reauth"


def test_reasons_are_ours_not_microsofts_description():
    failure = rules.classify_refresh_failure(
        "invalid_grant", "AADSTS50173: grant for alice@contoso.example revoked", [50173])
    assert "alice@contoso.example" not in failure.reason


def test_an_empty_cache_needs_reauth():
    assert rules.classify_refresh_failure(None, no_account=True).outcome == "needs_reauth"


@pytest.mark.parametrize(("error", "description", "reason", "admin"), [
    ("access_denied", "AADSTS65004: User declined to consent", "access_denied", False),
    ("consent_required", "AADSTS65001: consent missing", "admin_consent_required", True),
    ("access_denied", "AADSTS90094: admin approval required", "admin_consent_required", True),
    ("invalid_request", "AADSTS900144: missing", "sign_in_failed", False),
    ("temporarily_unavailable", "", "temporarily_unavailable", False),
])
def test_callback_errors_become_clear_results(error, description, reason, admin):
    result = rules.classify_callback_error(error, description)
    assert (result.reason, result.admin_consent) == (reason, admin)
    if admin:
        assert "administrator" in result.message


# ----------------------------------------------------------------------------- transitions (rule 6)
def _connect(previous, account=ALICE, now="2026-11-23T08:00:00Z"):
    return rules.connect(previous, workspace="ws", user="u", kind=ConnectionKind.TEAMS, account=account,
                         scopes=["OnlineMeetings.ReadWrite", "User.Read"], now=now)


def test_first_connect_is_a_transition_to_generation_one():
    out = _connect(None)
    assert out.transitioned and not out.replaced
    e = out.entity
    assert (e["PartitionKey"], e["RowKey"], e["status"], e["connected_generation"]) == ("ws|u", "teams", "connected", 1)
    assert e["connected_at"] == "2026-11-23T08:00:00Z" and e["upn"] == "alice@contoso.example"
    assert json.loads(e["history_json"])[0]["event"] == "connected"


def test_same_account_again_while_connected_is_not_a_transition():
    first = _connect(None).entity
    again = _connect({**first, "last_error": "x", "teams_unavailable": True}, now="2026-11-24T08:00:00Z")
    assert not again.transitioned and not again.replaced
    assert again.entity["connected_generation"] == 1
    assert again.entity["connected_at"] == "2026-11-23T08:00:00Z"
    assert again.entity["last_error"] == "" and again.entity["teams_unavailable"] is False


@pytest.mark.parametrize("status_change", ["disconnect", "needs_reauth"])
def test_reconnecting_after_a_break_is_a_transition(status_change):
    first = _connect(None).entity
    if status_change == "disconnect":
        broken = rules.disconnect(first, now="2026-11-23T09:00:00Z")
        assert broken["disconnected_at"] == "2026-11-23T09:00:00Z"
    else:
        broken = rules.needs_reauth(first, reason="invalid_grant (AADSTS70008): expired", consent_required=False,
                                    now="2026-11-23T09:00:00Z")
        assert broken["last_error"].startswith("invalid_grant")
    out = _connect(broken, now="2026-11-23T10:00:00Z")
    assert out.transitioned and not out.replaced
    assert out.entity["connected_generation"] == 2 and out.entity["connected_at"] == "2026-11-23T10:00:00Z"
    events = [h["event"] for h in json.loads(out.entity["history_json"])]
    assert events == ["connected", "disconnected" if status_change == "disconnect" else "needs_reauth", "connected"]


def test_a_different_account_replaces_the_previous_one():
    first = _connect(None).entity
    out = _connect(first, account=BOB, now="2026-11-23T10:00:00Z")
    assert out.transitioned and out.replaced
    assert out.entity["account_oid"] == "oid-b" and out.entity["connected_generation"] == 2
    last = json.loads(out.entity["history_json"])[-1]
    assert last["event"] == "replaced" and last["previous_account_oid"] == "oid-a"


def test_transition_row_for_the_sweep():
    e = _connect(None).entity
    row = rules.transition_row(e)
    assert row["PartitionKey"] == "teams"
    assert row["RowKey"] == "2026-11-23T08:00:00Z|ws|u|1"
    assert (row["ws"], row["user"], row["generation"], row["account_oid"], row["account_tid"]) == (
        "ws", "u", 1, "oid-a", "tid-1")


def test_history_is_capped():
    e = _connect(None).entity
    for i in range(rules.HISTORY_LIMIT + 20):
        e = rules.disconnect(e, now=f"2026-11-23T08:{i % 60:02d}:00Z")
    assert len(json.loads(e["history_json"])) == rules.HISTORY_LIMIT


def test_view_of_a_slot_never_connected():
    view = rules.connection_view(ConnectionKind.MICROSOFT_CALENDAR, None)
    assert view["status"] == "disconnected" and view["account"] is None and view["generation"] == 0


# ----------------------------------------------------------------------------- URLs, ids, tenants
@pytest.mark.parametrize("url", ["https://a.example/x?y=1", "http://localhost:3000/cb", "https://a.example"])
def test_good_return_urls(url):
    assert rules.return_url_problem(url) is None


@pytest.mark.parametrize("url", ["/relative", "javascript:alert(1)", "ftp://a.example/", "https://",
                                 "https://user:pw@a.example/", "https://a.example/ x", "https://a.example:99999/",
                                 "https://a.example/" + "x" * 3000, "", "data:text/html,hi"])
def test_bad_return_urls(url):
    assert rules.return_url_problem(url)


def test_with_query_keeps_existing_parameters_and_replaces_ours():
    url = rules.with_query("https://a.example/p?tab=1&status=old#frag", {"status": "connected", "kind": "teams"})
    assert url == "https://a.example/p?tab=1&status=connected&kind=teams#frag"


@pytest.mark.parametrize(("tenant", "ok"), [
    ("organizations", True), ("f20819f0-fd3e-4491-aad0-0479085b2e6f", True), ("contoso.onmicrosoft.com", True),
    ("common", False), ("consumers", False), (PERSONAL_ACCOUNT_TENANT_ID, False), ("../x", False), ("a b", False),
])
def test_tenants(tenant, ok):
    assert rules.check_tenant(tenant) is ok


@pytest.mark.parametrize(("value", "ok"), [("ws1", True), ("a.b-c_d", True), ("a|b", False), ("", False),
                                            ("-x", False), ("x" * 65, False), ("a/b", False)])
def test_ids(value, ok):
    assert rules.check_id(value) is ok


def test_admin_consent_scopes_cover_both_kinds():
    scopes = rules.admin_consent_scopes()
    for name in ("OnlineMeetings.ReadWrite", "Calendars.ReadWrite", "User.Read"):
        assert f"https://graph.microsoft.com/{name}" in scopes
    assert scopes.count("https://graph.microsoft.com/User.Read") == 1 and "offline_access" in scopes
