"""azure-functions-doctor, Microsoft's community diagnostic for the Python v2 model, passes on the checkout:
no failed check, and every warning it leaves is one docs/deploy.md explains."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCTOR = Path(sys.executable).parent / "azure-functions-doctor"


def _explained_rules() -> set[str]:
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    block = text.split("<!-- doctor-warnings:start -->", 1)[1].split("<!-- doctor-warnings:end -->", 1)[0]
    return set(re.findall(r"`(check_[a-z_]+)`", block))


def test_doctor_finds_no_failure_and_only_explained_warnings(tmp_path: Path) -> None:
    report, summary = tmp_path / "doctor.json", tmp_path / "summary.json"
    out = subprocess.run([str(DOCTOR), "doctor", "--path", str(ROOT), "--profile", "full", "--hosting-plan",
                          "flex-consumption", "--format", "json", "--output", str(report), "--summary-json",
                          str(summary)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    counts = json.loads(summary.read_text())
    items = [item for section in json.loads(report.read_text())["results"] for item in section.get("items", [])]
    failed = [(i["rule_id"], i.get("value")) for i in items if i["status"] == "fail"]
    assert counts["failed"] == 0 and failed == []
    assert counts["passed"] >= 15  # it did look at the app (programming model v2, host.json, requirements...)
    warned = {i["rule_id"] for i in items if i["status"] == "warn"}
    assert warned <= _explained_rules(), f"explain these in docs/deploy.md: {sorted(warned - _explained_rules())}"
    model = next(i for i in items if i["rule_id"] == "check_programming_model_v2")
    assert model["status"] == "pass"
