"""Realism knobs and the /_sandbox/ control API: throttling, latency, injected failures, request log, CLI."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from devhost.msstandin import StandIn

from .conftest import ALICE, BOB, Graph, https_session

REPO_ROOT = Path(__file__).resolve().parents[2]


def _parallel_gets(ms: StandIn, token: str, n: int) -> list[requests.Response]:
    """``n`` simultaneous GET /me/events, each on its own connection."""
    results: list[requests.Response] = []
    lock, barrier = threading.Lock(), threading.Barrier(n)

    def one() -> None:
        assert ms.ca_bundle_path is not None
        with https_session(ms.ca_bundle_path) as s:
            s.get(f"{ms.base_url}/_sandbox/")  # TLS handshake now, so the timed requests arrive together
            barrier.wait()
            r = s.get(f"{ms.graph_base_url}/me/events", headers={"Authorization": f"Bearer {token}"})
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_429_beyond_four_concurrent_requests_per_mailbox(ms: StandIn) -> None:
    ms.configure(latency_ms=600)
    token = ms.access_token(ALICE)
    results = _parallel_gets(ms, token, 8)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] * 4 + [429] * 4
    throttled = next(r for r in results if r.status_code == 429)
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.json()["error"]["code"] == "ApplicationThrottled"
    # slots are released: the mailbox answers again, and another mailbox was never affected
    ms.configure(latency_ms=0)
    assert all(r.status_code == 200 for r in _parallel_gets(ms, token, 4))
    assert all(r.status_code == 200 for r in _parallel_gets(ms, ms.access_token(BOB), 4))


def test_latency_is_applied(ms: StandIn, graph: Graph) -> None:
    ms.configure(latency_ms=250)
    started = time.monotonic()
    assert graph.get(ALICE, "/me").status_code == 200
    assert time.monotonic() - started >= 0.25


def test_injected_failures(ms: StandIn, graph: Graph) -> None:
    rule = ms.inject_failure(r"/me/events$", 503, count=2, method="POST", retry_after=7)
    assert rule["remaining"] == 2
    body = {"subject": "x", "start": {"dateTime": "2030-01-07T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2030-01-07T10:30:00", "timeZone": "UTC"}}
    assert graph.get(ALICE, "/me/events").status_code == 200  # method filter
    for _ in range(2):
        failed = graph.post(ALICE, "/me/events", json=body)
        assert failed.status_code == 503 and failed.headers["Retry-After"] == "7"
        assert failed.json()["error"]["code"] == "ServiceUnavailable"
    assert graph.post(ALICE, "/me/events", json=body).status_code == 201
    assert graph.http.get(f"{ms.base_url}/_sandbox/failures").json()["value"][0]["remaining"] == 0


def test_injected_failure_by_exact_path_and_on_identity(ms: StandIn, graph: Graph, http: requests.Session) -> None:
    resp = http.post(f"{ms.base_url}/_sandbox/failures", json={"path": "/v1.0/me", "status": 429, "count": 1,
                                                               "retry_after": 3})
    assert resp.status_code == 201
    throttled = graph.get(ALICE, "/me")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    assert graph.get(ALICE, "/me").status_code == 200
    ms.inject_failure(r"/oauth2/v2\.0/token$", 503)
    token = http.post(f"{ms.base_url}/organizations/oauth2/v2.0/token", data={"grant_type": "refresh_token"})
    assert token.status_code == 503 and token.json()["error"] == "temporarily_unavailable"
    bad = http.post(f"{ms.base_url}/_sandbox/failures", json={"path_regex": "(", "status": 500})
    assert bad.status_code == 400


def test_request_log(ms: StandIn, graph: Graph, http: requests.Session) -> None:
    graph.get(ALICE, "/me?$select=id")
    graph.post(BOB, "/me/onlineMeetings", json={"subject": "Logged"})
    log = http.get(f"{ms.base_url}/_sandbox/requests").json()["value"]
    assert [(e["method"], e["path"], e["upn"], e["status"]) for e in log] == [
        ("GET", "/v1.0/me", ALICE, 200), ("POST", "/v1.0/me/onlineMeetings", BOB, 201)]
    assert log[0]["query"] == {"$select": "id"} and log[1]["body"] == {"subject": "Logged"}
    assert log[0]["time"].endswith("Z")
    assert [e["upn"] for e in http.get(f"{ms.base_url}/_sandbox/requests", params={"upn": BOB}).json()["value"]] \
        == [BOB]
    assert http.delete(f"{ms.base_url}/_sandbox/requests").status_code == 204
    assert http.get(f"{ms.base_url}/_sandbox/requests").json()["value"] == []


def test_sandbox_accounts_events_config_reset(ms: StandIn, http: requests.Session) -> None:
    accounts = {a["upn"]: a for a in http.get(f"{ms.base_url}/_sandbox/accounts").json()["accounts"]}
    assert {a["kind"] for a in accounts.values()} == {"work", "work_no_teams", "personal"}
    assert accounts["dave@contoso.example"]["kind"] == "work_no_teams"
    assert accounts["erin@outlook.example"]["tenant_id"] == "9188040d-6c67-4c5b-b112-36a304b66dad"
    assert len({a["tenant_id"] for a in accounts.values() if a["kind"] == "work"}) == 2
    added = http.post(f"{ms.base_url}/_sandbox/accounts/{ALICE}/events",
                      json={"start": "2030-01-07T12:00:00Z", "end": "2030-01-07T13:00:00Z", "showAs": "oof"})
    assert added.status_code == 201 and added.json()["showAs"] == "oof"
    assert http.post(f"{ms.base_url}/_sandbox/accounts/{ALICE}/events",
                     json={"start": "2030-01-07T12:00:00Z", "end": "2030-01-07T13:00:00Z",
                           "showAs": "away"}).status_code == 400
    listed = http.get(f"{ms.base_url}/_sandbox/events", params={"upn": ALICE}).json()
    assert [e["origin"] for e in listed["value"]] == ["outside"]
    cfg = http.post(f"{ms.base_url}/_sandbox/config", json={"latency_ms": 5, "max_concurrent_per_mailbox": 2})
    assert cfg.json()["max_concurrent_per_mailbox"] == 2
    assert http.post(f"{ms.base_url}/_sandbox/config", json={"latency": 5}).status_code == 400
    assert http.post(f"{ms.base_url}/_sandbox/reset").status_code == 204
    assert http.get(f"{ms.base_url}/_sandbox/config").json()["latency_ms"] == 0
    assert http.get(f"{ms.base_url}/_sandbox/events", params={"upn": ALICE}).json()["value"] == []
    assert http.post(f"{ms.base_url}/_sandbox/accounts/nobody@x.example/revoke").status_code == 404


def test_tls_requires_the_stand_in_ca(ms: StandIn) -> None:
    assert ms.ca_bundle_path is not None and ms.ca_bundle_path.name == "standin-ca.pem"
    assert ms.ca_bundle_path.read_text().startswith("-----BEGIN CERTIFICATE-----")
    with requests.Session() as plain:
        plain.trust_env = False  # system CAs only
        try:
            plain.get(f"{ms.base_url}/_sandbox/accounts", timeout=5)
        except requests.exceptions.SSLError:
            pass
        else:
            raise AssertionError("the stand-in certificate must not be trusted without its CA bundle")
    with https_session(ms.ca_bundle_path) as s:
        assert s.get(f"https://localhost:{ms.port}/_sandbox/accounts", timeout=5).status_code == 200


def test_cli_runs_until_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "devhost.msstandin", "--port", "0", "--cert-dir",
                             str(tmp_path), "--json"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["graph_base_url"] == info["base_url"] + "/v1.0"
        assert Path(info["ca_bundle_path"]) == tmp_path / "standin-ca.pem"
        with https_session(info["ca_bundle_path"]) as s:
            cfg = s.get(f"{info['authority']}/v2.0/.well-known/openid-configuration", timeout=10)
            assert cfg.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
