"""`import function_app` needs no settings and pulls in no heavy dependency."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ["msal", "requests", "cryptography", "icalendar", "azure.data.tables", "azure.storage.queue",
         "azure.identity", "pydantic"]


def test_import_with_an_empty_environment_loads_no_heavy_module():
    code = (
        "import json, sys; import function_app; "
        f"print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={}, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert not any(loaded.values()), f"heavy modules imported by function_app: {loaded}"


def test_function_app_registers_blueprints_only():
    source = (ROOT / "function_app.py").read_text()
    assert "def " not in source.replace("register_functions", "")
