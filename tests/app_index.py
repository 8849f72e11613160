"""The app's function index, read in a fresh interpreter.

``FunctionApp.get_functions()`` may be called once per app object, and in-process hosts (the stack, the
browser tests) build apps from the same blueprints: reading the index in a subprocess keeps tests
independent of each other's order.
"""
from __future__ import annotations

import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CODE = """
import json, function_app
out = {}
for f in function_app.app.get_functions():
    t = f.get_trigger().get_dict_repr()
    out[f.get_function_name()] = {
        "type": t.get("type"),
        "route": t.get("route"),
        "auth": getattr(t.get("authLevel"), "value", t.get("authLevel")),
        "methods": [getattr(m, "value", m) for m in (t.get("methods") or [])],
    }
print(json.dumps(out))
"""


@lru_cache(maxsize=1)
def indexed_functions() -> dict[str, dict]:
    """``{function name: {"type", "route", "auth", "methods"}}`` of ``function_app.app``."""
    out = subprocess.run([sys.executable, "-c", _CODE], cwd=ROOT, env={}, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])
