"""The token store: encryption at rest, silent refresh, needs_reauth mapping, key rotation, ETag races."""
from __future__ import annotations

import json

import pytest

from shared.adapters.token_cipher import TokenCipher, UndecryptableSecret
from shared.errors import ConfigurationError, NotConnected, ReauthRequired, TransientError
from shared.usecases import connections as uc
from tests.unit.connections.helpers import ALICE, FakeMicrosoft, connect


def _cache_row(deps, ws="ws1", user="u1", kind="teams"):
    return deps.store.get("tokencaches", f"{ws}|{user}", kind)


def test_stored_cache_holds_no_token_in_plain_text(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    row = _cache_row(deps)
    raw = json.dumps(row)
    tokens = [s for s in ms.all_secrets() if s.startswith(("at-", "rt-", "eyJ"))]
    assert len(tokens) >= 3
    for secret in tokens:
        assert secret not in raw
    for marker in ("RefreshToken", "AccessToken", "secret", ALICE["upn"]):
        assert marker not in row["cache"]
    plain = json.loads(deps.cipher.decrypt(row["cache"]))  # it is MSAL's cache, encrypted
    assert set(plain) >= {"AccessToken", "RefreshToken", "IdToken", "Account"}


def test_cached_token_needs_no_request_and_no_write(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    etag = _cache_row(deps)["_etag"]
    requests_before = len(ms.token_requests)
    assert uc.get_access_token(deps, "ws1", "u1", "teams") == uc.get_access_token(deps, "ws1", "u1", "teams")
    assert len(ms.token_requests) == requests_before
    assert _cache_row(deps)["_etag"] == etag  # unchanged cache is not written back


def test_expiring_token_is_refreshed_and_the_new_cache_written_back(deps, ms):
    ms.access_token_lifetime = 60  # MSAL refreshes tokens that expire within 5 minutes
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    before = _cache_row(deps)
    token = uc.get_access_token(deps, "ws1", "u1", "teams")
    assert ms.refresh_calls() == 1 and token.startswith("at-")
    after = _cache_row(deps)
    assert after["_etag"] != before["_etag"]
    plain = deps.cipher.decrypt(after["cache"])
    assert token in plain and ms.last_refresh_token in plain  # the new tokens were kept


def test_force_refresh_skips_the_cached_token(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    first = uc.get_access_token(deps, "ws1", "u1", "teams")
    second = uc.get_access_token(deps, "ws1", "u1", "teams", force_refresh=True)
    assert first != second and ms.refresh_calls() == 1


@pytest.mark.parametrize(("error", "code", "consent"), [
    ("invalid_grant", 70008, False), ("invalid_grant", 700082, False), ("invalid_grant", 50173, False),
    ("invalid_grant", 70000, False), ("invalid_grant", 65001, True), ("interaction_required", 90094, True),
])
def test_refresh_failure_turns_the_connection_into_needs_reauth(deps, ms, error, code, consent):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    deps.clock.advance(days=2)
    ms.refresh_failure = {"error": error, "code": code, "text": "refused by Microsoft for alice@contoso.example"}
    with pytest.raises(ReauthRequired) as exc:
        uc.get_access_token(deps, "ws1", "u1", "teams", force_refresh=True)
    assert f"AADSTS{code}" in exc.value.reason and exc.value.consent_required is consent
    conn = uc.get_connection(deps, "ws1", "u1", "teams")
    assert conn["status"] == "needs_reauth" and conn["needs_reauth_at"] == "2026-11-25T08:00:00Z"
    assert f"AADSTS{code}" in conn["last_error"] and error in conn["last_error"]
    assert "alice@" not in conn["last_error"]
    assert bool(conn["consent_required"]) is consent
    assert json.loads(conn["history_json"])[-1]["event"] == "needs_reauth"
    # rule 21: the host is told about the connection itself, once per transition
    assert deps.queue.on("hostnotices") == [
        {"workspace": "ws1", "user": "u1", "kind": "teams", "at": "2026-11-25T08:00:00Z"}]
    view = {c["kind"]: c for c in uc.list_connections(deps, "ws1", "u1")["connections"]}["teams"]
    assert view["status"] == "needs_reauth" and view["last_error"] == conn["last_error"]
    # later callers are told at once, without asking Microsoft again
    calls = ms.refresh_calls()
    with pytest.raises(ReauthRequired) as again:
        uc.get_access_token(deps, "ws1", "u1", "teams")
    assert again.value.reason == conn["last_error"] and ms.refresh_calls() == calls


def test_reconnecting_after_needs_reauth_is_a_transition(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    ms.refresh_failure = {"error": "invalid_grant", "code": 50173}
    with pytest.raises(ReauthRequired):
        uc.get_access_token(deps, "ws1", "u1", "teams", force_refresh=True)
    ms.refresh_failure = None
    deps.clock.advance(hours=3)
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    conn = uc.get_connection(deps, "ws1", "u1", "teams")
    assert conn["status"] == "connected" and conn["connected_generation"] == 2 and conn["last_error"] == ""
    assert len(deps.store.all("connectiontransitions")) == 2 and len(deps.queue.on("backfill")) == 2
    assert uc.get_access_token(deps, "ws1", "u1", "teams").startswith("at-")


def test_microsoft_outage_is_transient_and_keeps_the_connection(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    ms.refresh_failure, ms.refresh_status = {"error": "temporarily_unavailable", "code": 90033}, 503
    with pytest.raises(TransientError):
        uc.get_access_token(deps, "ws1", "u1", "teams", force_refresh=True)
    assert uc.get_connection(deps, "ws1", "u1", "teams")["status"] == "connected"


def test_a_refused_app_secret_is_our_configuration_not_the_hosts(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    ms.refresh_failure, ms.refresh_status = {"error": "invalid_client", "code": 7000222}, 401
    with pytest.raises(ConfigurationError):
        uc.get_access_token(deps, "ws1", "u1", "teams", force_refresh=True)
    assert uc.get_connection(deps, "ws1", "u1", "teams")["status"] == "connected"


def test_not_connected_cases(deps, ms):
    with pytest.raises(NotConnected):
        uc.get_access_token(deps, "ws1", "u1", "teams")
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    with pytest.raises(NotConnected):
        uc.get_access_token(deps, "ws1", "u1", "microsoft_calendar")
    uc.disconnect(deps, "ws1", "u1", "teams")
    with pytest.raises(NotConnected):
        uc.get_access_token(deps, "ws1", "u1", "teams")


def test_missing_token_cache_needs_reauth(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    deps.store.delete("tokencaches", "ws1|u1", "teams")
    with pytest.raises(ReauthRequired):
        uc.get_access_token(deps, "ws1", "u1", "teams")
    assert uc.get_connection(deps, "ws1", "u1", "teams")["last_error"].startswith("tokens_missing")


# ----------------------------------------------------------------------------- key rotation
def test_key_rotation_old_caches_still_decrypt_and_are_rewritten_under_the_new_key(deps, ms):
    old_key = TokenCipher.generate_key()
    deps.cipher = TokenCipher([old_key])
    ms.access_token_lifetime = 60
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    written_under_old = _cache_row(deps)["cache"]

    new_key = TokenCipher.generate_key()
    deps.cipher = TokenCipher([new_key, old_key])  # rotation: the new key first, the old one still decrypts
    assert uc.get_access_token(deps, "ws1", "u1", "teams").startswith("at-")
    rewritten = _cache_row(deps)["cache"]
    assert rewritten != written_under_old
    assert TokenCipher([new_key]).decrypt(rewritten)  # a refresh re-encrypted it under the new key
    with pytest.raises(UndecryptableSecret):
        TokenCipher([new_key]).decrypt(written_under_old)


def test_a_cache_whose_key_was_removed_needs_reauth(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    deps.cipher = TokenCipher([TokenCipher.generate_key()])
    with pytest.raises(ReauthRequired) as exc:
        uc.get_access_token(deps, "ws1", "u1", "teams")
    assert exc.value.reason.startswith("tokens_unreadable")


# ----------------------------------------------------------------------------- concurrency
class _RacingIdentity:
    """Lets a second worker refresh and write while the first one is between its read and its write."""

    def __init__(self, inner, deps):
        self.inner, self.deps, self.raced = inner, deps, False
        self.tokens: list[str] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def acquire_token_silent(self, *args, **kwargs):
        result = self.inner.acquire_token_silent(*args, **kwargs)
        if not self.raced:
            self.raced = True
            self.tokens.append(uc.get_access_token(self.deps, "ws1", "u1", "teams"))  # worker B, start to end
        return result


def test_two_workers_refreshing_at_once_do_not_lose_a_token(deps, ms):
    ms.access_token_lifetime = 60  # the stored token is about to expire: both workers refresh
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    ms.access_token_lifetime = 3600
    racing = _RacingIdentity(deps.identity, deps)
    deps.identity = racing
    token_a = uc.get_access_token(deps, "ws1", "u1", "teams")  # worker A
    assert ms.refresh_calls() == 2  # both refreshed; A's write lost the ETag race and A read again
    plain = deps.cipher.decrypt(_cache_row(deps)["cache"])
    assert racing.tokens[0] in plain  # B's write survived ...
    assert ms.last_refresh_token in plain  # ... with its refresh token
    assert token_a == racing.tokens[0]  # A used B's fresh token instead of overwriting B's cache
    # and the stored cache keeps working
    deps.identity = racing.inner
    assert uc.get_access_token(deps, "ws1", "u1", "teams", force_refresh=True).startswith("at-")


def test_a_reconnect_during_a_refresh_failure_is_not_overwritten(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)

    class ReconnectMeanwhile:
        def __init__(self, inner):
            self.inner, self.done = inner, False

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def acquire_token_silent(self, *args, **kwargs):
            result = self.inner.acquire_token_silent(*args, **kwargs)
            if not self.done:
                self.done = True
                ms.refresh_failure = None
                deps.identity = self.inner
                connect(deps, ms, "ws1", "u1", "teams", ALICE)  # the host reconnects in between
                deps.identity = self
            return result

    ms.refresh_failure = {"error": "invalid_grant", "code": 70008}
    deps.identity = ReconnectMeanwhile(deps.identity)
    token = uc.get_access_token(deps, "ws1", "u1", "teams", force_refresh=True)
    assert token.startswith("at-")  # the stale failure did not mark the fresh connection
    assert uc.get_connection(deps, "ws1", "u1", "teams")["status"] == "connected"


def test_fake_microsoft_checks_the_client_secret(rsps):
    """Guard for the fake itself: a wrong secret is refused like Entra does."""
    ms = FakeMicrosoft()
    status, _, body = ms._token(type("R", (), {"body": "grant_type=refresh_token&client_id=x&client_secret=y"})())
    assert status == 401 and json.loads(body)["error"] == "invalid_client"
