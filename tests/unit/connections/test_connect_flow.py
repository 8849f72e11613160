"""Connect links, MSAL's auth-code flow with PKCE, the callback's checks, replacement and disconnect."""
from __future__ import annotations

import json

import pytest

from shared.domain import connections as rules
from shared.errors import NotConnected, NotFound, ValidationError
from shared.usecases import connections as uc
from tests.unit.connections.helpers import (
    ALICE,
    BOB,
    CAROL,
    GUEST_FROM_LIVE,
    MICROSOFT_HOST,
    PERSONAL,
    PUBLIC_BASE,
    RETURN_URL,
    FakeMicrosoft,
    connect,
    location_query,
    make_deps,
    seed_user,
)


def _open(deps, ws="ws1", user="u1", kind="teams", return_url=RETURN_URL):
    link = uc.create_connect_link(deps, ws, user, kind, return_url)
    return uc.open_connect_link(deps, link["url"].rsplit("/", 1)[1])


def _nothing_stored(deps):
    assert deps.store.all("connections") == []
    assert deps.store.all("tokencaches") == []
    assert deps.store.all("connectiontransitions") == []
    assert deps.queue.on("backfill") == []


# ----------------------------------------------------------------------------- the full connect
def test_full_connect_with_pkce_ends_connected_with_the_account(deps, ms):
    link = uc.create_connect_link(deps, "ws1", "u1", "teams", RETURN_URL)
    assert link["url"].startswith(f"{PUBLIC_BASE}/api/connect/")
    assert link["expires_at"] == "2026-11-23T08:15:00Z"
    token = link["url"].rsplit("/", 1)[1]
    assert token not in json.dumps(deps.store.all("connectlinks"))  # storage keeps a hash only

    opened = uc.open_connect_link(deps, token)
    assert opened.http_status == 302
    assert opened.redirect_to.startswith(f"{MICROSOFT_HOST}/organizations/oauth2/v2.0/authorize?")
    q = location_query(opened.redirect_to)
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) >= 43
    assert set(q["scope"].split()) >= {"OnlineMeetings.ReadWrite", "User.Read", "offline_access", "openid"}
    assert "Calendars.ReadWrite" not in q["scope"]
    assert q["redirect_uri"] == f"{PUBLIC_BASE}/api/auth/microsoft/callback"
    assert q["response_mode"] == "form_post" and q["state"] and q["nonce"]
    flow_row = deps.store.all("authflows")[0]
    assert q["state"] not in json.dumps(flow_row) and q["code_challenge"] not in flow_row["flow"]
    assert flow_row["expires_at"] == "2026-11-23T08:10:00Z"

    result = uc.complete_sign_in(deps, ms.sign_in(opened.redirect_to, ALICE))
    assert result.ok and result.kind == "teams"
    assert result.redirect_to == RETURN_URL + "&status=connected&kind=teams"

    conn = uc.get_connection(deps.store, "ws1", "u1", "teams")
    assert conn["status"] == "connected"
    assert (conn["upn"], conn["display_name"]) == (ALICE["upn"], ALICE["name"])
    assert (conn["account_oid"], conn["account_tid"]) == (ALICE["oid"], ALICE["tid"])
    assert conn["scopes"] == "OnlineMeetings.ReadWrite User.Read"
    assert conn["connected_at"] == "2026-11-23T08:00:00Z" and conn["connected_generation"] == 1
    # the code was redeemed with the PKCE verifier, and the token is usable without another request
    assert ms.token_requests[-1]["grant_type"] == "authorization_code" and ms.token_requests[-1]["code_verifier"]
    assert uc.get_access_token(deps, "ws1", "u1", "teams").startswith("at-")
    assert len(ms.token_requests) == 1


def test_calendar_kind_asks_calendar_scopes_and_records_no_teams_transition(deps, ms):
    opened = _open(deps, kind="microsoft_calendar")
    scopes = location_query(opened.redirect_to)["scope"].split()
    assert "Calendars.ReadWrite" in scopes and "OnlineMeetings.ReadWrite" not in scopes
    assert uc.complete_sign_in(deps, ms.sign_in(opened.redirect_to, ALICE)).ok
    assert uc.get_connection(deps, "ws1", "u1", "microsoft_calendar")["status"] == "connected"
    assert uc.get_connection(deps, "ws1", "u1", "teams") is None  # kinds are separate slots
    assert deps.store.all("connectiontransitions") == []  # no Teams transition, but the host's bookings are
    # repaired at once (issue 15: a calendar reconnect used to start nothing)
    assert deps.queue.on("backfill") == [{"workspace": "ws1", "host": "u1", "reason": "reconnected",
                                          "kind": "microsoft_calendar"}]


def test_without_return_url_the_callback_shows_a_page(deps, ms):
    result = connect(deps, ms, "ws1", "u1", "teams", ALICE, return_url=None)
    assert result.ok and result.redirect_to is None and result.http_status == 200
    assert "Teams" in result.message


# ----------------------------------------------------------------------------- rule 5
@pytest.mark.parametrize("account", [PERSONAL, GUEST_FROM_LIVE], ids=["msa", "live-guest"])
def test_personal_account_is_refused_and_nothing_is_stored(deps, ms, account):
    result = connect(deps, ms, "ws1", "u1", "teams", account)
    assert not result.ok and result.reason == "personal_account"
    assert "work or school" in result.message
    assert location_query(result.redirect_to) == {"tab": "video", "status": "error", "kind": "teams",
                                                  "reason": "personal_account"}
    _nothing_stored(deps)
    with pytest.raises(NotConnected):
        uc.get_access_token(deps, "ws1", "u1", "teams")


# ----------------------------------------------------------------------------- state
def test_forged_missing_and_oversized_state_are_refused(deps, ms):
    opened = _open(deps)
    good = ms.sign_in(opened.redirect_to, ALICE)
    for state in ("forged-" + "x" * 40, "", "s" * 600):
        result = uc.complete_sign_in(deps, {**good, "state": state})
        assert (result.ok, result.http_status, result.reason, result.redirect_to) == (False, 400, "invalid_state", None)
    result = uc.complete_sign_in(deps, {k: v for k, v in good.items() if k != "state"})
    assert result.http_status == 400
    _nothing_stored(deps)
    assert ms.token_requests == []  # refused before any code was redeemed


def test_replayed_state_is_refused_and_changes_nothing(deps, ms):
    opened = _open(deps)
    params = ms.sign_in(opened.redirect_to, ALICE)
    assert uc.complete_sign_in(deps, params).ok
    before = (deps.store.all("connections"), deps.store.all("tokencaches"))
    replay = uc.complete_sign_in(deps, params)
    assert (replay.http_status, replay.reason) == (400, "invalid_state")
    assert (deps.store.all("connections"), deps.store.all("tokencaches")) == before
    assert len(ms.token_requests) == 1
    assert deps.store.all("authflows")[0]["flow"] == ""  # the used flow keeps no verifier


def test_expired_state_is_refused(deps, ms):
    opened = _open(deps)
    params = ms.sign_in(opened.redirect_to, ALICE)
    deps.clock.advance(minutes=10, seconds=1)
    result = uc.complete_sign_in(deps, params)
    assert (result.http_status, result.reason) == (400, "invalid_state")
    _nothing_stored(deps)


def test_a_state_from_another_flow_cannot_redeem_this_code(deps, ms):
    first, second = _open(deps, user="u1"), _open(deps, user="u2")
    params = ms.sign_in(first.redirect_to, ALICE)
    other_state = location_query(second.redirect_to)["state"]
    result = uc.complete_sign_in(deps, {**params, "state": other_state})
    assert not result.ok and result.reason == "sign_in_failed"  # PKCE verifier of u2's flow does not fit
    _nothing_stored(deps)


# ----------------------------------------------------------------------------- Microsoft errors
def test_user_declined(deps, ms):
    opened = _open(deps)
    result = uc.complete_sign_in(deps, ms.error_response(opened.redirect_to, "access_denied",
                                                         "AADSTS65004: User declined to consent to access the app."))
    assert location_query(result.redirect_to)["reason"] == "access_denied"
    assert "not granted" in result.message
    _nothing_stored(deps)


def test_consent_required_offers_admin_consent(deps, ms):
    opened = _open(deps, return_url=None)
    result = uc.complete_sign_in(deps, ms.error_response(opened.redirect_to, "consent_required",
                                                         "AADSTS65001: The user or administrator has not consented."))
    assert result.reason == "admin_consent_required" and "administrator" in result.message
    assert result.http_status == 400 and result.redirect_to is None
    opened = _open(deps)
    result = uc.complete_sign_in(deps, ms.error_response(opened.redirect_to, "access_denied",
                                                         "AADSTS90094: Admin approval required."))
    q = location_query(result.redirect_to)
    assert (q["status"], q["reason"], q["admin_consent"]) == ("error", "admin_consent_required", "required")
    _nothing_stored(deps)


@pytest.mark.parametrize("code, text", [
    (90093, "AADSTS90093: The app is requesting permissions that you are not authorized to grant."),
    (900941, "AADSTS900941: Administrator consent is required. App requested permissions."),
])
def test_consent_codes_90093_and_900941_offer_admin_consent(deps, ms, code, text):
    """Page "Unexpected error when performing consent to an application": AADSTS90093 means an administrator
    has to consent; AADSTS900941 (Entra error codes reference) is "admin consent required"."""
    opened = _open(deps)
    result = uc.complete_sign_in(deps, ms.error_response(opened.redirect_to, "access_denied", text))
    q = location_query(result.redirect_to)
    assert (q["reason"], q["admin_consent"]) == ("admin_consent_required", "required")
    failure = rules.classify_refresh_failure("invalid_grant", text, [code])
    assert failure.consent_required and failure.outcome == "needs_reauth"
    _nothing_stored(deps)


@pytest.mark.parametrize("kind, granted", [("teams", ["User.Read"]),
                                           ("microsoft_calendar", ["User.Read", "Calendars.Read"]),
                                           ("teams", [])])
def test_granted_scopes_short_of_the_kind_are_refused_with_the_admin_consent_path(deps, ms, kind, granted):
    """The token response's ``scope`` is what was granted; a tenant may grant less than asked (rule 26)."""
    ms.grant_only = granted
    opened = _open(deps, kind=kind)
    result = uc.complete_sign_in(deps, ms.sign_in(opened.redirect_to, ALICE))
    q = location_query(result.redirect_to)
    assert not result.ok and (q["reason"], q["admin_consent"]) == ("consent_required", "required")
    assert "administrator" in result.message
    _nothing_stored(deps)


def test_granted_scopes_may_come_as_full_uris_in_any_case(deps, ms):
    ms.grant_only = ["https://graph.microsoft.com/onlinemeetings.readwrite", "https://graph.microsoft.com/User.Read"]
    opened = _open(deps)
    assert uc.complete_sign_in(deps, ms.sign_in(opened.redirect_to, ALICE)).ok


def test_a_code_microsoft_refuses_ends_in_an_error_result(deps, ms):
    opened = _open(deps)
    params = ms.sign_in(opened.redirect_to, ALICE)
    ms.codes.clear()  # e.g. already redeemed / expired at Microsoft
    result = uc.complete_sign_in(deps, params)
    assert not result.ok and location_query(result.redirect_to)["reason"] == "sign_in_failed"
    _nothing_stored(deps)


# ----------------------------------------------------------------------------- links
def test_a_connect_link_works_once(deps, ms):
    link = uc.create_connect_link(deps, "ws1", "u1", "teams", None)
    token = link["url"].rsplit("/", 1)[1]
    assert uc.open_connect_link(deps, token).redirect_to
    again = uc.open_connect_link(deps, token)
    assert (again.http_status, again.reason, again.redirect_to) == (400, "link_used", None)


def test_expired_and_forged_links_are_refused(deps, ms):
    token = uc.create_connect_link(deps, "ws1", "u1", "teams", None)["url"].rsplit("/", 1)[1]
    deps.clock.advance(minutes=15, seconds=1)
    assert uc.open_connect_link(deps, token).reason == "link_expired"
    body, mac = token.split(".")
    assert uc.open_connect_link(deps, body + "." + mac[::-1]).reason == "link_invalid"
    assert uc.open_connect_link(deps, "").reason == "link_invalid"
    assert deps.store.all("authflows") == []


def test_connect_link_validation(deps):
    with pytest.raises(ValidationError) as exc:
        uc.create_connect_link(deps, "ws1", "u1", "teams", "javascript:alert(1)")
    assert exc.value.field == "return_url"
    with pytest.raises(ValidationError) as exc:
        uc.create_connect_link(deps, "ws1", "u1", "zoom", None)
    assert exc.value.field == "kind"
    with pytest.raises(ValidationError):
        uc.create_connect_link(deps, "ws|1", "u1", "teams", None)
    with pytest.raises(NotFound):
        uc.create_connect_link(deps, "ws1", "nobody", "teams", None)
    with pytest.raises(NotFound):  # a user of another workspace is not visible
        uc.create_connect_link(deps, "ws2", "u2", "teams", None)


# ----------------------------------------------------------------------------- rule 6
def test_a_different_account_replaces_the_old_one(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    alice_token = uc.get_access_token(deps, "ws1", "u1", "teams")
    deps.clock.advance(hours=1)
    assert connect(deps, ms, "ws1", "u1", "teams", BOB).ok
    conn = uc.get_connection(deps, "ws1", "u1", "teams")
    assert (conn["account_oid"], conn["upn"], conn["connected_generation"]) == (BOB["oid"], BOB["upn"], 2)
    assert conn["connected_at"] == "2026-11-23T09:00:00Z"
    assert json.loads(conn["history_json"])[-1]["event"] == "replaced"
    cache = deps.cipher.decrypt(deps.store.all("tokencaches")[0]["cache"])
    assert ALICE["oid"] not in cache and BOB["oid"] in cache  # the old account's tokens are gone
    bob_token = uc.get_access_token(deps, "ws1", "u1", "teams")
    assert bob_token != alice_token and bob_token.startswith("at-")
    rows = sorted(r["RowKey"] for r in deps.store.all("connectiontransitions"))
    assert rows == ["2026-11-23T08:00:00Z|ws1|u1|1", "2026-11-23T09:00:00Z|ws1|u1|2"]
    assert len(deps.queue.on("backfill")) == 2


def test_the_same_account_in_two_workspaces_and_for_two_users(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    connect(deps, ms, "ws2", "u1", "teams", ALICE)
    connect(deps, ms, "ws1", "u2", "teams", ALICE)
    for ws, user in (("ws1", "u1"), ("ws2", "u1"), ("ws1", "u2")):
        conn = uc.get_connection(deps, ws, user, "teams")
        assert conn["status"] == "connected" and conn["account_oid"] == ALICE["oid"]
        assert conn["connected_generation"] == 1
    uc.disconnect(deps, "ws1", "u1", "teams")
    with pytest.raises(NotConnected):
        uc.get_access_token(deps, "ws1", "u1", "teams")
    assert uc.get_access_token(deps, "ws2", "u1", "teams").startswith("at-")  # the others are untouched
    assert uc.get_access_token(deps, "ws1", "u2", "teams").startswith("at-")
    assert {m["workspace"] + "/" + m["host"] for m in deps.queue.on("backfill")} == {"ws1/u1", "ws2/u1", "ws1/u2"}


def test_same_account_again_is_not_a_new_transition(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    deps.clock.advance(minutes=5)
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    conn = uc.get_connection(deps, "ws1", "u1", "teams")
    assert conn["connected_generation"] == 1 and conn["connected_at"] == "2026-11-23T08:00:00Z"
    assert len(deps.store.all("connectiontransitions")) == 1 and len(deps.queue.on("backfill")) == 1


def test_reconnect_after_disconnect_is_recorded_for_the_sweep(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    deps.clock.advance(hours=1)
    view = uc.disconnect(deps, "ws1", "u1", "teams")
    assert view["status"] == "disconnected" and view["disconnected_at"] == "2026-11-23T09:00:00Z"
    assert deps.store.all("tokencaches") == []
    deps.clock.advance(hours=1)
    connect(deps, ms, "ws1", "u1", "teams", CAROL)
    conn = uc.get_connection(deps, "ws1", "u1", "teams")
    assert conn["connected_generation"] == 2 and conn["connected_at"] == "2026-11-23T10:00:00Z"
    assert conn["disconnected_at"] == "2026-11-23T09:00:00Z"  # the history of the break is kept
    assert [h["event"] for h in json.loads(conn["history_json"])] == ["connected", "disconnected", "connected"]
    row = sorted(deps.store.all("connectiontransitions"), key=lambda r: r["RowKey"])[-1]
    assert row["RowKey"] == "2026-11-23T10:00:00Z|ws1|u1|2"
    assert (row["ws"], row["user"], row["generation"], row["account_oid"], row["account_tid"]) == (
        "ws1", "u1", 2, CAROL["oid"], CAROL["tid"])
    assert deps.queue.on("backfill")[-1] == {"workspace": "ws1", "host": "u1", "reason": "reconnected",
                                             "kind": "teams"}


def test_a_failing_queue_does_not_fail_the_connect(deps, ms):
    class Broken:
        def send(self, *a, **k):
            raise OSError("queue down")

    deps.queue = Broken()
    assert connect(deps, ms, "ws1", "u1", "teams", ALICE).ok
    assert uc.get_connection(deps, "ws1", "u1", "teams")["status"] == "connected"
    assert len(deps.store.all("connectiontransitions")) == 1  # the sweep still finds it


# ----------------------------------------------------------------------------- status and disconnect
def test_list_shows_every_kind(deps, ms):
    connect(deps, ms, "ws1", "u1", "microsoft_calendar", CAROL)
    view = uc.list_connections(deps, "ws1", "u1")
    by_kind = {c["kind"]: c for c in view["connections"]}
    assert set(by_kind) == {"teams", "microsoft_calendar", "google_calendar"}
    cal = by_kind["microsoft_calendar"]
    assert cal["status"] == "connected" and cal["scopes"] == ["Calendars.ReadWrite", "User.Read"]
    assert cal["account"] == {"id": CAROL["oid"], "tenant_id": CAROL["tid"], "upn": CAROL["upn"],
                              "display_name": CAROL["name"]}
    assert by_kind["teams"]["status"] == "disconnected" and by_kind["teams"]["account"] is None
    with pytest.raises(NotFound):
        uc.list_connections(deps, "ws1", "ghost")


def test_disconnect_is_idempotent_and_404_when_never_connected(deps, ms):
    with pytest.raises(NotFound):
        uc.disconnect(deps, "ws1", "u1", "teams")
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    first = uc.disconnect(deps, "ws1", "u1", "teams")
    deps.clock.advance(minutes=3)
    second = uc.disconnect(deps, "ws1", "u1", "teams")
    assert first["disconnected_at"] == second["disconnected_at"] == "2026-11-23T08:00:00Z"
    assert uc.get_connection(deps, "ws1", "u1", "teams")["status"] == "disconnected"


def test_disconnecting_one_kind_leaves_the_other(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    connect(deps, ms, "ws1", "u1", "microsoft_calendar", ALICE)
    uc.disconnect(deps, "ws1", "u1", "teams")
    assert uc.get_access_token(deps, "ws1", "u1", "microsoft_calendar").startswith("at-")


def test_mark_teams_unavailable_and_reconnect_clears_it(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    uc.mark_teams_unavailable(deps.store, "ws1", "u1", "This Microsoft account cannot create Teams meetings.")
    conn = uc.get_connection(deps.store, "ws1", "u1", "teams")
    assert conn["teams_unavailable"] is True and "cannot create Teams" in conn["last_error"]
    assert conn["status"] == "connected"
    view = {c["kind"]: c for c in uc.list_connections(deps, "ws1", "u1")["connections"]}["teams"]
    assert view["teams_unavailable"] is True
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    conn = uc.get_connection(deps, "ws1", "u1", "teams")
    assert conn["teams_unavailable"] is False and conn["last_error"] == ""
    uc.mark_teams_unavailable(deps, "ws1", "nobody", "x")  # no slot: nothing to do


def test_a_stand_in_authority_host_works_without_instance_discovery(rsps):
    host = "https://login.standin.test:8443"
    ms = FakeMicrosoft(host=host).install(rsps)
    deps = make_deps(host=host)
    seed_user(deps.store, "ws1", "u1")
    result = connect(deps, ms, "ws1", "u1", "teams", ALICE)
    assert result.ok
    assert all("discovery/instance" not in c.request.url for c in rsps.calls)
    assert all(c.request.url.startswith(host) for c in rsps.calls)


# ----------------------------------------------------------------------------- rule 23: the mailbox address
class _Mailboxes:
    """``GET /me?$select=mail,userPrincipalName`` as the connections use case sees it."""

    def __init__(self, address: str | None) -> None:
        self.address, self.tokens = address, []

    def mailbox(self, token):
        from shared.errors import TransientError

        self.tokens.append(token)
        if self.address is None:
            raise TransientError("Graph unreachable")
        return self.address


def test_sign_in_stores_the_mailbox_read_from_graph_not_the_sign_in_name(deps, ms):
    """Page "ID token claims reference": ``preferred_username`` need not be the mailbox; rule 23 reads
    ``mail`` (else ``userPrincipalName``) from ``GET /me`` with the sign-in's own access token."""
    deps.mailbox_reader = _Mailboxes("alice.archer@contoso.example")
    opened = _open(deps, kind="microsoft_calendar")
    assert uc.complete_sign_in(deps, ms.sign_in(opened.redirect_to, ALICE)).ok
    row = deps.store.get("connections", "ws1|u1", "microsoft_calendar")
    assert row["mailbox"] == "alice.archer@contoso.example" and row["upn"] == ALICE["upn"]
    assert deps.mailbox_reader.tokens and deps.mailbox_reader.tokens[0].startswith("at-")


def test_a_mailbox_graph_cannot_answer_now_does_not_stop_the_sign_in(deps, ms):
    deps.mailbox_reader = _Mailboxes(None)
    opened = _open(deps, kind="microsoft_calendar")
    assert uc.complete_sign_in(deps, ms.sign_in(opened.redirect_to, ALICE)).ok
    assert deps.store.get("connections", "ws1|u1", "microsoft_calendar")["mailbox"] == ""
