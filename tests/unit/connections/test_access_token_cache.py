"""The in-process access-token cache of ``get_access_token``: used only while the connection row still
names the same connected account and generation, and the token has more than 5 minutes left."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.access_token_cache import AccessTokenCache
from shared.errors import NotConnected, ReauthRequired
from shared.usecases import connections as uc
from tests.unit.connections.helpers import ALICE, BOB, connect

SLOT = ("ws1", "u1", "teams")


class Recorder:
    """Wraps the store and the identity of ``deps``: which tables were read, how often MSAL was asked."""

    def __init__(self, deps):
        self.deps, self.reads, self.silent_calls = deps, [], 0
        store, identity = deps.store, deps.identity
        recorder = self

        class Store:
            def __getattr__(self, name):
                return getattr(store, name)

            def get(self, table, pk, rk):
                recorder.reads.append(table)
                return store.get(table, pk, rk)

        class Identity:
            def __getattr__(self, name):
                return getattr(identity, name)

            def acquire_token_silent(self, *args, **kwargs):
                recorder.silent_calls += 1
                return identity.acquire_token_silent(*args, **kwargs)

        deps.store, deps.identity = Store(), Identity()

    def reset(self):
        self.reads, self.silent_calls = [], 0


@pytest.fixture
def rec(deps):
    return Recorder(deps)


def token(deps, **kwargs):
    return uc.get_access_token(deps, *SLOT, **kwargs)


def test_a_second_call_within_validity_reads_only_the_connection_row(deps, ms, rec):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    first = token(deps)
    assert rec.silent_calls == 1 and "tokencaches" in rec.reads
    rec.reset()
    requests_before = len(ms.token_requests)
    assert token(deps) == first
    assert rec.reads == ["connections"]  # the status is still checked on every call
    assert rec.silent_calls == 0 and len(ms.token_requests) == requests_before


def test_a_given_connection_row_is_not_read_again(deps, ms, rec):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    first = token(deps)
    row = uc.get_connection(deps, *SLOT)
    rec.reset()
    assert token(deps, connection=row) == first and rec.reads == [] and rec.silent_calls == 0
    # a row of another slot is not trusted: the right one is read
    other = dict(row, PartitionKey="ws1|u2")
    assert token(deps, connection=other) == first and rec.reads == ["connections"]


def test_a_given_disconnected_row_is_not_connected(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    token(deps)
    row = uc.get_connection(deps, *SLOT)
    with pytest.raises(NotConnected):
        token(deps, connection=dict(row, status="disconnected"))


def test_disconnect_is_noticed_at_once_though_a_token_is_cached(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    token(deps)
    uc.disconnect(deps, *SLOT)
    assert len(deps.access_token_cache) == 0  # same process: evicted
    with pytest.raises(NotConnected):
        token(deps)


def test_disconnect_by_another_instance_is_noticed_through_the_row(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    token(deps)
    other_instance = uc.ConnectionDeps(store=deps.store, clock=deps.clock, cipher=deps.cipher,
                                       identity=deps.identity, access_token_cache=AccessTokenCache())
    uc.disconnect(other_instance, *SLOT)
    assert len(deps.access_token_cache) == 1  # this process still holds it ...
    with pytest.raises(NotConnected):
        token(deps)  # ... and does not hand it out
    assert len(deps.access_token_cache) == 0


def test_needs_reauth_is_noticed_at_once_though_a_token_is_cached(deps, ms, rec):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    token(deps)
    conn = uc.get_connection(deps, *SLOT)
    # another instance's refresh failed and marked the slot
    deps.store.update("connections", {**{k: v for k, v in conn.items() if not k.startswith("_")},
                                      "status": "needs_reauth", "last_error": "invalid_grant: AADSTS70008"},
                      conn["_etag"])
    rec.reset()
    with pytest.raises(ReauthRequired) as exc:
        token(deps)
    assert "AADSTS70008" in exc.value.reason and rec.silent_calls == 0
    assert len(deps.access_token_cache) == 0


def test_a_refresh_failure_evicts(deps, ms):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    token(deps)
    ms.refresh_failure = {"error": "invalid_grant", "code": 50173}
    with pytest.raises(ReauthRequired):
        token(deps, force_refresh=True)
    assert len(deps.access_token_cache) == 0
    with pytest.raises(ReauthRequired):
        token(deps)


def test_a_reconnect_with_another_account_misses(deps, ms, rec):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    alice_token = token(deps)
    # the reconnect happens in another instance: this process's entry stays, the row moves on
    other_instance = uc.ConnectionDeps(store=deps.store, clock=deps.clock, cipher=deps.cipher,
                                       identity=deps.identity, signer=deps.signer, queue=deps.queue,
                                       public_base_url=deps.public_base_url, access_token_cache=AccessTokenCache())
    connect(other_instance, ms, "ws1", "u1", "teams", BOB)
    assert len(deps.access_token_cache) == 1
    rec.reset()
    bob_token = token(deps)
    assert bob_token != alice_token and rec.silent_calls == 1 and "tokencaches" in rec.reads
    conn = uc.get_connection(deps, *SLOT)
    assert conn["account_oid"] == BOB["oid"] and conn["connected_generation"] == 2


def test_a_reconnect_with_the_same_account_misses_on_the_generation(deps, ms, rec):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    token(deps)
    conn = uc.get_connection(deps, *SLOT)
    deps.store.update("connections", {**{k: v for k, v in conn.items() if not k.startswith("_")},
                                      "connected_generation": int(conn["connected_generation"]) + 1},
                      conn["_etag"])
    rec.reset()
    token(deps)
    assert rec.silent_calls == 1


def test_force_refresh_bypasses_and_replaces_the_entry(deps, ms, rec):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    first = token(deps)
    rec.reset()
    second = token(deps, force_refresh=True)
    assert second != first and rec.silent_calls == 1 and ms.refresh_calls() == 1
    rec.reset()
    assert token(deps) == second and rec.silent_calls == 0  # the fresh token is the one kept


def test_a_token_within_five_minutes_of_expiry_is_asked_for_again(deps, ms, rec):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)  # tokens live 3600 s
    token(deps)
    deps.clock.advance(minutes=54)
    rec.reset()
    token(deps)
    assert rec.silent_calls == 0  # 6 minutes left: still used
    deps.clock.advance(minutes=1, seconds=30)
    token(deps)
    assert rec.silent_calls == 1  # 4.5 minutes left: MSAL asked again (it refreshes by its own clock)


def test_a_short_lived_token_is_never_served_from_the_cache(deps, ms, rec):
    ms.access_token_lifetime = 60  # MSAL refreshes tokens that expire within 5 minutes; so do we
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    token(deps)
    token(deps)
    assert rec.silent_calls == 2 and ms.refresh_calls() == 2


def test_without_a_cache_every_call_asks_msal(deps, ms, rec):
    deps.access_token_cache = None
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    assert token(deps) == token(deps)
    assert rec.silent_calls == 2


def test_slots_are_separate(deps, ms, rec):
    connect(deps, ms, "ws1", "u1", "teams", ALICE)
    connect(deps, ms, "ws1", "u1", "microsoft_calendar", ALICE)
    token(deps)
    rec.reset()
    uc.get_access_token(deps, "ws1", "u1", "microsoft_calendar")
    assert rec.silent_calls == 1


# ----------------------------------------------------------------------------- the cache itself
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _remember(cache, key, tok="t", **kw):
    args = {"expires_at": NOW + timedelta(hours=1), "generation": 1, "account_oid": "o", "account_tid": "t"}
    cache.remember(key, tok, **{**args, **kw})


def test_cache_is_a_bounded_lru():
    cache = AccessTokenCache(max_entries=2)
    _remember(cache, ("w", "a", "teams"))
    _remember(cache, ("w", "b", "teams"))
    assert cache.get(("w", "a", "teams")) is not None  # a is now the most recent
    _remember(cache, ("w", "c", "teams"))
    assert len(cache) == 2 and cache.get(("w", "b", "teams")) is None


def test_cache_checks_identity_time_and_refresh_on():
    cache = AccessTokenCache()
    key = ("w", "u", "teams")
    _remember(cache, key, "tok")
    assert cache.lookup(key, generation=1, account_oid="o", account_tid="t", now=NOW) == "tok"
    assert cache.lookup(key, generation=1, account_oid="x", account_tid="t", now=NOW) is None
    assert len(cache) == 0  # a mismatch evicts
    _remember(cache, key, "tok")
    assert cache.lookup(key, generation=1, account_oid="o", account_tid="t",
                        now=NOW + timedelta(minutes=55, seconds=1)) is None
    _remember(cache, key, "tok", refresh_on=NOW + timedelta(minutes=10))
    assert cache.lookup(key, generation=1, account_oid="o", account_tid="t", now=NOW + timedelta(minutes=9)) == "tok"
    assert cache.lookup(key, generation=1, account_oid="o", account_tid="t", now=NOW + timedelta(minutes=10)) is None


def test_cache_never_shows_a_token():
    cache = AccessTokenCache()
    _remember(cache, ("w", "u", "teams"), "eyJsecret.token.value")
    assert cache.get(("w", "u", "teams")) is not None
    assert "eyJsecret" not in repr(cache) and "eyJsecret" not in repr(cache.get(("w", "u", "teams")))


def test_cache_is_thread_safe():
    cache = AccessTokenCache(max_entries=64)
    errors: list[BaseException] = []

    def work(n):
        try:
            for i in range(500):
                key = ("w", f"u{(n * 7 + i) % 100}", "teams")
                _remember(cache, key, f"t{i}")
                cache.lookup(key, generation=1, account_oid="o", account_tid="t", now=NOW)
                cache.evict(("w", f"u{i % 100}", "teams"))
        except BaseException as exc:  # noqa: BLE001 - a worker's crash must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert 0 < len(cache) <= 64


def test_the_container_owns_one_cache_per_process():
    from shared.bootstrap import Container
    from shared.settings import Settings

    c = Container(Settings({}))
    assert c.access_token_cache is c.access_token_cache
    assert c.connection_deps().access_token_cache is c.access_token_cache
