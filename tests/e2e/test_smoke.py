"""``make smoke``'s checklist (``devhost.smoke.run_checklist``) against an in-process stack on free ports."""
from __future__ import annotations

from typing import Any

from devhost.smoke import CHECKLIST, run_checklist, summary


def test_the_verification_checklist_passes_end_to_end(stack: Any) -> None:
    results = run_checklist(stack.describe(), timeout=60)
    report = "\n".join(r.line() for r in results)
    assert len(results) == len(CHECKLIST)
    assert all(r.ok for r in results), f"{summary(results)}\n{report}"


def test_make_smoke_prints_one_line_per_step_and_a_summary(stack: Any, tmp_path, capsys) -> None:
    """``main()`` uses the running stack named by a stack.json whose host answers."""
    import json

    from devhost.smoke import main

    path = tmp_path / "stack.json"
    path.write_text(json.dumps(stack.describe()))
    code = main(["--stack-json", str(path)])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert f"using the running stack at {stack.base_url}" in out
    assert len(lines) == len(CHECKLIST)
    assert out.rstrip().splitlines()[-1] == f"smoke: {len(CHECKLIST)} passed, 0 failed", out
    assert code == 0


def test_make_smoke_starts_a_stack_of_its_own_when_none_runs(tmp_path) -> None:
    """What ``make smoke`` runs on a fresh clone: no stack.json, so it starts (and stops) its own stack."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "AzureWebJobsStorage"}
    proc = subprocess.run([sys.executable, "-m", "devhost.smoke", "--stack-json", str(tmp_path / "none.json")],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert "starting a local stack" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1] == f"smoke: {len(CHECKLIST)} passed, 0 failed", \
        proc.stdout + proc.stderr[-3000:]
    assert proc.returncode == 0
