"""`make run`'s stack: health through the local host, stack.json, and Ctrl-C leaves nothing behind."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            return "zombie" not in fh.read()
    except OSError:
        return False


def _wait(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_stack_runs_answers_health_and_stops_every_child_on_ctrl_c(tmp_path):
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "AzureWebJobsStorage"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "devhost.stack", "--free-ports", "--no-seed", "--sample-settings",
         "--run-dir", str(run_dir), "--azurite-location", str(tmp_path / "azurite")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        stack_json = run_dir / "stack.json"
        assert _wait(stack_json.exists), "stack.json was not written"
        info = json.loads(stack_json.read_text())
        base = info["functions_host"]["base_url"]
        health = requests.get(f"{base}/api/health", timeout=10)
        assert health.status_code == 200
        assert health.json()["storage"] == {"tables": {"reachable": True}, "queues": {"reachable": True}}
        assert info["keys"]["function"] and info["keys"]["master"]
        assert info["outbox_dir"] and info["pids"]["azurite"]
        # issue 20: the Google stand-in runs next to the Microsoft one, and stack.json names it
        google = info["google"]
        assert google["mode"] == "stand-in" and google["standin_base_url"].startswith("http://127.0.0.1:")
        assert google["calendar_base_url"] == google["standin_base_url"] + "/calendar/v3"
        assert requests.get(f"{google['standin_base_url']}/_sandbox/accounts", timeout=10).json()["value"]
        # keys are enforced by the host
        assert requests.post(f"{base}/admin/functions/health", json={}, timeout=10).status_code == 401
        _connect_link_tool_prints_a_fresh_link(base, info["keys"]["function"], stack_json)
        children = [info["pids"]["azurite"]]
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        assert proc.returncode == 0
        assert _wait(lambda: not any(_alive(pid) for pid in children), 20), "a child outlived Ctrl-C"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out = proc.stdout.read() if proc.stdout else ""
    assert "bookbridge is running locally" in out


def _connect_link_tool_prints_a_fresh_link(base: str, key: str, stack_json: Path) -> None:
    """`make connect-link` (devhost.connect_link) mints a link from the running stack; each call a new one."""
    headers = {"x-functions-key": key}
    assert requests.put(f"{base}/api/workspaces/demo", json={"name": "Demo"}, headers=headers,
                        timeout=10).status_code in (200, 201)
    user = {"name": "Alex", "email": "alex@example.com", "timezone": "UTC"}
    assert requests.put(f"{base}/api/workspaces/demo/users/alex", json=user, headers=headers,
                        timeout=10).status_code in (200, 201)
    argv = [sys.executable, "-m", "devhost.connect_link", "--stack-json", str(stack_json), "--ws", "demo",
            "--user", "alex", "--kind", "teams"]
    links = [subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60) for _ in range(2)]
    assert [r.returncode for r in links] == [0, 0], [r.stderr for r in links]
    urls = [r.stdout.strip() for r in links]
    assert all(u.startswith(f"{base}/api/connect/") for u in urls) and urls[0] != urls[1]
    missing = subprocess.run([*argv[:3], "--stack-json", str(stack_json.parent / "absent.json")], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "make run" in missing.stderr


def test_health_is_503_when_storage_does_not_answer(tmp_path):
    from devhost.stack import Stack, StackConfig

    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    config = StackConfig(run_dir=tmp_path / "run", http_port=0, blob_port=0, queue_port=0, table_port=0,
                         smtp_port=0, azurite_location=tmp_path / "az", values=sample, standin=False)
    with Stack(config) as stack:
        assert requests.get(f"{stack.base_url}/api/health", timeout=10).status_code == 200
        stack.azurite.stop()
        resp = requests.get(f"{stack.base_url}/api/health", timeout=60)
        assert resp.status_code == 503
        body = resp.json()
        assert body["status"] == "unhealthy" and body["storage"]["tables"]["reachable"] is False
        assert body["version"]
