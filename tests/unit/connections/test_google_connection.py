"""Connection kind ``google_calendar`` (issue 20, point 3): the authorization-code flow with PKCE through
Authlib against the Google stand-in (a real HTTP server in this process, every exchange held to the contract),
the refresh token sealed in the slot's own row, status / disconnect, and ``invalid_grant`` -> ``needs_reauth``.

Google's behaviour: "Using OAuth 2.0 for Web Server Applications" (offline access, PKCE, a revoked refresh
token answers invalid_grant) and "OpenID Connect" (the id token names the account by ``sub``).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses

from devhost.googlestandin import GoogleStandIn
from shared.adapters.google_identity import GoogleIdentity
from shared.domain import connections as rules
from shared.domain.model import ConnectionKind
from shared.errors import NotConnected, ReauthRequired
from shared.usecases.connections import (
    complete_google_sign_in,
    complete_sign_in,
    create_connect_link,
    disconnect,
    get_access_token,
    list_connections,
    open_connect_link,
    preview_link,
)
from tests.google_contract_check import check_calls
from tests.unit.connections.helpers import RETURN_URL, make_deps, seed_user

GINA = "gina@example.com"
KIND = ConnectionKind.GOOGLE_CALENDAR.value


@pytest.fixture
def google(deps, rsps) -> Iterator[GoogleStandIn]:
    stand_in = GoogleStandIn(clock=lambda: deps.clock.now().timestamp()).start()
    rsps.add_passthru(stand_in.base_url)  # Microsoft stays behind responses; Google is the stand-in
    deps.google_identity = GoogleIdentity(stand_in.client_id, stand_in.client_secret,
                                          authorization_endpoint=stand_in.authorization_endpoint,
                                          token_endpoint=stand_in.token_endpoint)
    yield stand_in
    stand_in.stop()


def _consent(google: GoogleStandIn, auth_uri: str, *, account: str = GINA, drop_scope: str = "") -> dict[str, str]:
    """What a person does on Google's page: pick the account (optionally unticking one scope)."""
    params = dict(parse_qsl(urlsplit(auth_uri).query))
    if drop_scope:
        params["scope"] = " ".join(s for s in params["scope"].split() if s != drop_scope)
    s = requests.Session()
    s.trust_env = False
    answer = s.post(google.authorization_endpoint, data={**params, "account": account, "decision": "allow"},
                    allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return dict(parse_qsl(urlsplit(answer.headers["Location"]).query))


def _connect(deps, google: GoogleStandIn, user: str = "u1", **consent: str):
    link = create_connect_link(deps, "ws1", user, KIND, RETURN_URL)
    token = link["url"].rsplit("/", 1)[1]
    assert preview_link(deps, token).title == "Connect your Google Calendar"
    opened = open_connect_link(deps, token, "browser-1")
    assert opened.ok and opened.redirect_to and opened.title == "Redirecting to Google"
    return complete_google_sign_in(deps, _consent(google, opened.redirect_to, **consent), "browser-1")


def test_connect_asks_for_free_busy_and_owned_events_only_with_pkce(deps, google) -> None:
    link = create_connect_link(deps, "ws1", "u1", KIND)
    opened = open_connect_link(deps, link["url"].rsplit("/", 1)[1])
    query = dict(parse_qsl(urlsplit(opened.redirect_to).query))
    assert query["scope"].split() == ["openid", "email", "https://www.googleapis.com/auth/calendar.freebusy",
                                      "https://www.googleapis.com/auth/calendar.events.owned"]
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["access_type"] == "offline" and query["redirect_uri"].endswith("/api/auth/google/callback")


def test_the_callback_connects_the_slot_with_the_refresh_token_sealed_in_its_own_row(deps, google) -> None:
    result = _connect(deps, google)
    assert result.ok and result.redirect_to and "status=connected" in result.redirect_to
    view = {c["kind"]: c for c in list_connections(deps, "ws1", "u1")["connections"]}[KIND]
    assert view["status"] == "connected" and view["account"]["upn"] == GINA
    assert view["scopes"] == ["https://www.googleapis.com/auth/calendar.freebusy",
                              "https://www.googleapis.com/auth/calendar.events.owned"]
    assert {c["kind"]: c["status"] for c in list_connections(deps, "ws1", "u1")["connections"]}["teams"] == \
        "disconnected"  # the kinds keep separate slots
    row = deps.store.get(rules.TOKEN_CACHES_TABLE, "ws1|u1", KIND)
    refresh = next(iter(google.state.refresh_tokens))
    assert refresh not in json.dumps(row)  # sealed, never in clear
    assert json.loads(deps.cipher.decrypt(row["cache"]))["refresh_token"] == refresh
    token = get_access_token(deps, "ws1", "u1", KIND)
    assert google.state.grant_of(token, deps.clock.now().timestamp()).email == GINA
    assert all(e["status"] < 400 for e in google.requests())
    assert deps.queue.on("backfill")[-1]["kind"] == KIND  # a reconnect repairs the host's bookings


def test_a_revoked_google_grant_marks_the_slot_needs_reauth(deps, google) -> None:
    _connect(deps, google)
    deps.access_token_cache = None  # every call goes to Google's token endpoint
    google.revoke(GINA)
    with pytest.raises(ReauthRequired):
        get_access_token(deps, "ws1", "u1", KIND)
    row = deps.store.get(rules.CONNECTIONS_TABLE, "ws1|u1", KIND)
    assert row["status"] == "needs_reauth" and row["last_error"].startswith("invalid_grant")
    with pytest.raises(ReauthRequired):  # and stays so, without asking Google again
        get_access_token(deps, "ws1", "u1", KIND)
    again = _connect(deps, google)  # a new sign-in heals it
    assert again.ok and deps.store.get(rules.CONNECTIONS_TABLE, "ws1|u1", KIND)["status"] == "connected"


def test_disconnect_removes_the_tokens(deps, google) -> None:
    _connect(deps, google)
    view = disconnect(deps, "ws1", "u1", KIND)
    assert view["status"] == "disconnected"
    assert deps.store.get(rules.TOKEN_CACHES_TABLE, "ws1|u1", KIND) is None
    with pytest.raises(NotConnected):
        get_access_token(deps, "ws1", "u1", KIND)


def test_an_unticked_scope_is_refused_and_nothing_is_stored(deps, google) -> None:
    result = _connect(deps, google, drop_scope="https://www.googleapis.com/auth/calendar.events.owned")
    assert not result.ok and result.reason == "consent_required"
    assert deps.store.get(rules.CONNECTIONS_TABLE, "ws1|u1", KIND) is None


def test_a_callback_replayed_or_of_the_other_provider_is_refused(deps, google) -> None:
    link = create_connect_link(deps, "ws1", "u1", KIND)
    opened = open_connect_link(deps, link["url"].rsplit("/", 1)[1], "b")
    params = _consent(google, opened.redirect_to)
    assert complete_sign_in(deps, params, "b").reason == "invalid_state"  # Microsoft's callback: not its flow
    assert complete_google_sign_in(deps, params, "b").ok
    assert complete_google_sign_in(deps, params, "b").reason == "invalid_state"  # used once
    declined = complete_google_sign_in(deps, {"error": "access_denied", "state": "unknown"}, "b")
    assert declined.reason == "invalid_state"


def test_the_adapter_maps_invalid_grant_and_keeps_to_the_contract() -> None:
    token_url = "https://oauth2.example/token"
    identity = GoogleIdentity("cid", "secret", token_endpoint=token_url)
    cache = json.dumps({"refresh_token": "1//r", "scope": "x"})
    with responses.RequestsMock() as rsps:
        rsps.post(token_url, json={"access_token": "ya29.a", "expires_in": 3599, "token_type": "Bearer",
                                   "scope": "https://www.googleapis.com/auth/calendar.freebusy"})
        rsps.post(token_url, status=400, json={"error": "invalid_grant",
                                               "error_description": "Token has been expired or revoked."})
        ok = identity.acquire_token_silent(cache, [], "", "")
        refused = identity.acquire_token_silent(cache, [], "", "")
        assert check_calls(rsps.calls, "https://calendar.example", token_url) == []
    assert ok.access_token == "ya29.a" and ok.expires_in == 3599 and ok.cache is None
    assert refused.access_token is None and refused.error == "invalid_grant"
    assert identity.acquire_token_silent("{}", [], "", "").no_account


def test_connect_link_without_google_settings_is_a_configuration_error() -> None:
    deps = make_deps()
    seed_user(deps.store, "ws1", "u1")
    deps.google_identity = GoogleIdentity("", "")
    link = create_connect_link(deps, "ws1", "u1", KIND)
    from shared.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        open_connect_link(deps, link["url"].rsplit("/", 1)[1])
