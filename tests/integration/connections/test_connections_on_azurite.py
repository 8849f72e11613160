"""Microsoft connections against real Table and Queue storage (Azurite); Microsoft mocked with ``responses``.

The last test talks to the local Microsoft stand-in over https instead (real MSAL, no mocks): the
authority host and CA bundle come from settings exactly as in a local run.
"""
from __future__ import annotations

import base64
import json
import re
import uuid
from html import unescape
from urllib.parse import urlencode

import azure.functions as func
import pytest
import responses

from shared import bootstrap
from shared.adapters.token_cipher import TokenCipher
from shared.errors import ReauthRequired
from shared.settings import Settings
from shared.usecases import connections as uc
from tests.unit.connections.helpers import (
    ALICE,
    BOB,
    PERSONAL,
    PUBLIC_BASE,
    RETURN_URL,
    FakeMicrosoft,
    connect,
    location_query,
    make_deps,
    seed_user,
)


@pytest.fixture(scope="module")
def table_service(storage_connection_string):
    from azure.data.tables import TableServiceClient

    return TableServiceClient.from_connection_string(storage_connection_string)


@pytest.fixture(scope="module")
def queue_service(storage_connection_string):
    from azure.storage.queue import QueueServiceClient

    return QueueServiceClient.from_connection_string(storage_connection_string)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(re.compile(r"http://127\.0\.0\.1(:\d+)?/"))  # Azurite
        yield mock


@pytest.fixture
def ms(rsps):
    return FakeMicrosoft().install(rsps)


@pytest.fixture
def ids():
    suffix = uuid.uuid4().hex[:10]
    return f"ws{suffix}", f"ws{suffix}b", "host1"


@pytest.fixture
def deps(ms, table_service, queue_service, ids):
    from shared.adapters.queue_store import StorageMessageQueue
    from shared.adapters.table_store import TableEntityStore

    d = make_deps(store=TableEntityStore(table_service), queue=StorageMessageQueue(queue_service))
    ws, ws_b, user = ids
    seed_user(d.store, ws, user)
    seed_user(d.store, ws_b, user)
    return d


def _raw(table_service, table, pk, rk):
    return dict(table_service.get_table_client(table).get_entity(pk, rk))


def _backfill_messages(queue_service, ws):
    client = queue_service.get_queue_client("backfill")
    out = []
    for msg in client.peek_messages(max_messages=32):
        body = json.loads(base64.b64decode(msg.content))
        if body.get("workspace") == ws:
            out.append(body)
    return out


def _req(method, url, *, route=None, body=b"", headers=None, params=None):
    return func.HttpRequest(method, f"{PUBLIC_BASE}/api/{url}", headers=headers or {}, params=params or {},
                            route_params=route or {}, body=body)


def test_full_connect_through_the_functions_on_azurite(deps, ms, ids, table_service, queue_service):
    from functions import connections as fn

    ws, _, user = ids
    bootstrap.install(bootstrap.Container(Settings({"PUBLIC_BASE_URL": PUBLIC_BASE}), store=deps.store,
                                          queue=deps.queue, clock=deps.clock, cipher=deps.cipher,
                                          signer=deps.signer, identity=deps.identity))
    try:
        route = {"workspace": ws, "user": user, "kind": "teams"}
        resp = fn.connections_create_connect_link(_req(
            "POST", "x", route=route, body=json.dumps({"return_url": RETURN_URL}).encode()))
        assert resp.status_code == 201
        token = json.loads(resp.get_body())["url"].rsplit("/", 1)[1]
        resp = fn.connections_open_connect_link(_req("GET", "connect", route={"token": token}))
        assert resp.status_code == 200  # the page: opening the link does not use it
        resp = fn.connections_open_connect_link(_req("POST", "connect", route={"token": token}))
        assert resp.status_code == 302
        authorize, cookie = resp.headers["Location"], resp.headers["Set-Cookie"].split(";", 1)[0]
        q = location_query(authorize)
        assert q["code_challenge_method"] == "S256" and "OnlineMeetings.ReadWrite" in q["scope"]
        form = ms.sign_in(authorize, ALICE)
        resp = fn.connections_callback(_req("POST", "cb", body=urlencode(form).encode(),
                                            headers={"Content-Type": "application/x-www-form-urlencoded",
                                                     "Cookie": cookie}))
        assert resp.status_code == 302 and location_query(resp.headers["Location"])["status"] == "connected"
        resp = fn.connections_list(_req("GET", "x", route={"workspace": ws, "user": user}))
        teams = {c["kind"]: c for c in json.loads(resp.get_body())["connections"]}["teams"]
        assert teams["status"] == "connected" and teams["account"]["upn"] == ALICE["upn"]
        assert teams["account"]["tenant_id"] == ALICE["tid"]
    finally:
        bootstrap.install(None)

    pk = f"{ws}|{user}"
    conn = _raw(table_service, "connections", pk, "teams")
    assert conn["status"] == "connected" and conn["connected_generation"] == 1
    assert conn["teams_unavailable"] is False and conn["account_oid"] == ALICE["oid"]

    # the raw stored entities hold no token, code, verifier or state in plain text
    secrets = ms.all_secrets() | {token}
    assert any(s.startswith("rt-") for s in secrets) and any(s.startswith("at-") for s in secrets)
    raw_cache_entity = _raw(table_service, "tokencaches", pk, "teams")
    raw = json.dumps(raw_cache_entity, default=str)
    for secret in secrets:
        assert secret not in raw
    for marker in ("RefreshToken", "AccessToken", "secret", ALICE["upn"]):
        assert marker not in raw_cache_entity["cache"]
    flows = list(table_service.get_table_client("authflows").query_entities(f"ws eq '{ws}'"))
    links = list(table_service.get_table_client("connectlinks").query_entities(f"ws eq '{ws}'"))
    assert len(flows) == 1 and len(links) == 1 and flows[0]["used"] is True and links[0]["used"] is True
    for entity in flows + links:
        raw = json.dumps(dict(entity), default=str)
        for secret in secrets:
            assert secret not in raw
        assert entity["PartitionKey"] != token and len(entity["PartitionKey"]) == 64  # sha256 only

    transition = list(table_service.get_table_client("connectiontransitions").query_entities(
        f"PartitionKey eq 'teams' and ws eq '{ws}'"))
    assert [t["RowKey"] for t in transition] == [f"2026-11-23T08:00:00Z|{ws}|{user}|1"]
    assert _backfill_messages(queue_service, ws) == [{"workspace": ws, "host": user, "reason": "reconnected",
                                                         "kind": "teams"}]


def test_personal_account_and_replayed_state_store_nothing(deps, ms, ids, table_service):
    ws, _, user = ids
    assert connect(deps, ms, ws, user, "teams", PERSONAL).reason == "personal_account"
    link = uc.create_connect_link(deps, ws, user, "teams", None)
    opened = uc.open_connect_link(deps, link["url"].rsplit("/", 1)[1])
    params = ms.sign_in(opened.redirect_to, ALICE)
    deps.clock.advance(minutes=11)
    assert uc.complete_sign_in(deps, params).reason == "invalid_state"
    assert uc.complete_sign_in(deps, {**params, "state": "forged"}).reason == "invalid_state"
    assert deps.store.get("connections", f"{ws}|{user}", "teams") is None
    assert deps.store.get("tokencaches", f"{ws}|{user}", "teams") is None


def test_refresh_failure_needs_reauth_on_azurite(deps, ms, ids):
    ws, _, user = ids
    connect(deps, ms, ws, user, "teams", ALICE)
    ms.refresh_failure = {"error": "invalid_grant", "code": 700082, "text": "expired"}
    with pytest.raises(ReauthRequired):
        uc.get_access_token(deps, ws, user, "teams", force_refresh=True)
    conn = deps.store.get("connections", f"{ws}|{user}", "teams")
    assert conn["status"] == "needs_reauth" and "AADSTS700082" in conn["last_error"]


def test_key_rotation_on_azurite(deps, ms, ids, table_service):
    ws, _, user = ids
    old = TokenCipher.generate_key()
    deps.cipher = TokenCipher([old])
    connect(deps, ms, ws, user, "teams", ALICE)
    stored = _raw(table_service, "tokencaches", f"{ws}|{user}", "teams")["cache"]
    deps.cipher = TokenCipher([TokenCipher.generate_key(), old])
    assert uc.get_access_token(deps, ws, user, "teams").startswith("at-")
    assert deps.cipher.decrypt(stored)


def test_replacement_and_two_workspaces_on_azurite(deps, ms, ids, queue_service):
    ws, ws_b, user = ids
    connect(deps, ms, ws, user, "teams", ALICE)
    connect(deps, ms, ws_b, user, "teams", ALICE)
    deps.clock.advance(minutes=30)
    connect(deps, ms, ws, user, "teams", BOB)
    a = deps.store.get("connections", f"{ws}|{user}", "teams")
    b = deps.store.get("connections", f"{ws_b}|{user}", "teams")
    assert (a["account_oid"], a["connected_generation"]) == (BOB["oid"], 2)
    assert (b["account_oid"], b["connected_generation"]) == (ALICE["oid"], 1)
    assert ALICE["oid"] not in deps.cipher.decrypt(deps.store.get("tokencaches", f"{ws}|{user}", "teams")["cache"])
    assert len(_backfill_messages(queue_service, ws)) == 2


def test_concurrent_refresh_keeps_the_winners_cache_on_azurite(deps, ms, ids):
    from tests.unit.connections.test_tokens import _RacingIdentity

    ws, _, user = ids
    ms.access_token_lifetime = 60
    connect(deps, ms, ws, user, "teams", ALICE)
    ms.access_token_lifetime = 3600

    class Racing(_RacingIdentity):
        def acquire_token_silent(self, *args, **kwargs):
            result = self.inner.acquire_token_silent(*args, **kwargs)
            if not self.raced:
                self.raced = True
                self.tokens.append(uc.get_access_token(self.deps, ws, user, "teams"))
            return result

    racing = Racing(deps.identity, deps)
    deps.identity = racing
    token = uc.get_access_token(deps, ws, user, "teams")
    assert token == racing.tokens[0] and ms.refresh_calls() == 2
    assert token in deps.cipher.decrypt(deps.store.get("tokencaches", f"{ws}|{user}", "teams")["cache"])


# ----------------------------------------------------------------------------- the https stand-in
def test_connect_and_refresh_against_the_https_stand_in(table_service, queue_service, ids, tmp_path):
    """Real MSAL over TLS to the stand-in: MICROSOFT_AUTHORITY_HOST + MICROSOFT_CA_BUNDLE, no mocks."""
    import requests

    from devhost.msstandin import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, StandIn
    from shared.adapters.queue_store import StorageMessageQueue
    from shared.adapters.table_store import TableEntityStore

    ws, _, user = ids
    with StandIn(cert_dir=tmp_path / "certs") as ms:
        settings = Settings({
            "MICROSOFT_CLIENT_ID": DEFAULT_CLIENT_ID, "MICROSOFT_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "MICROSOFT_AUTHORITY_HOST": ms.authority_host, "MICROSOFT_CA_BUNDLE": str(ms.ca_bundle_path),
            "TOKEN_ENCRYPTION_KEYS": TokenCipher.generate_key(), "LINK_SIGNING_KEY": "s" * 32,
            "PUBLIC_BASE_URL": PUBLIC_BASE,
        })
        container = bootstrap.Container(settings, store=TableEntityStore(table_service),
                                        queue=StorageMessageQueue(queue_service))
        deps = uc.ConnectionDeps.from_container(container)
        seed_user(deps.store, ws, user)

        link = uc.create_connect_link(deps, ws, user, "teams", RETURN_URL)
        opened = uc.open_connect_link(deps, link["url"].rsplit("/", 1)[1])
        assert opened.redirect_to.startswith(ms.authority_host + "/organizations/oauth2/v2.0/authorize?")
        # the browser: sign in as alice; the stand-in answers with its form_post page
        page = requests.get(opened.redirect_to, params={"login_hint": "alice@contoso.example"},
                            verify=str(ms.ca_bundle_path), timeout=10)
        assert page.status_code == 200
        fields = {unescape(k): unescape(v) for k, v in
                  re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page.text)}
        assert fields.get("code") and fields.get("state")
        result = uc.complete_sign_in(deps, fields)
        assert result.ok, result
        conn = deps.store.get("connections", f"{ws}|{user}", "teams")
        assert conn["upn"] == "alice@contoso.example" and conn["status"] == "connected"

        token = uc.get_access_token(deps, ws, user, "teams", force_refresh=True)
        me = requests.get(ms.graph_base_url + "/me", headers={"Authorization": f"Bearer {token}"},
                          verify=str(ms.ca_bundle_path), timeout=10)
        assert me.status_code == 200 and me.json()["userPrincipalName"] == "alice@contoso.example"

        ms.revoke("alice@contoso.example", "revoked")
        with pytest.raises(ReauthRequired) as exc:
            uc.get_access_token(deps, ws, user, "teams", force_refresh=True)
        assert "AADSTS50173" in exc.value.reason
        assert deps.store.get("connections", f"{ws}|{user}", "teams")["status"] == "needs_reauth"
