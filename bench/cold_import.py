"""Figure 1, ``cold_import_ratio``: ``import function_app`` in a fresh process against its floor.

The floor is importing, in a fresh process, exactly the third-party modules that ``import function_app``
loads (found by diffing ``sys.modules`` in a fresh process, not guessed): whatever is left above it is
the cost of our own modules. Both commands are timed as whole processes (interpreter start included),
alternately, and compared by their medians.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

from bench.common import ROOT, log, median
from bench.report import Figure

OWN_TOP_LEVEL = {"function_app", "functions", "shared", "devhost", "bench", "tests", "__main__"}

_DIFF = r"""
import json, sys
before = set(sys.modules)
import function_app
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def third_party_modules() -> tuple[list[str], list[str], int]:
    """``(third-party modules loaded by import function_app, their top-level packages, stdlib count)``."""
    out = subprocess.run([sys.executable, "-c", _DIFF], cwd=ROOT, capture_output=True, text=True, check=True)
    new = json.loads(out.stdout.strip().splitlines()[-1])
    std = sys.stdlib_module_names
    third = [m for m in new if m.split(".")[0] not in std and m.split(".")[0] not in OWN_TOP_LEVEL
             and not m.split(".")[0].startswith("_")]
    stdlib = [m for m in new if m.split(".")[0] in std or m.split(".")[0].startswith("_")]
    return third, sorted({m.split(".")[0] for m in third}), len(stdlib)


def floor_code(modules: list[str]) -> str:
    """Import every listed module (in the order given: parents sort before their children)."""
    return ("import importlib\n"
            f"for _m in {modules!r}:\n"
            "    try:\n"
            "        importlib.import_module(_m)\n"
            "    except Exception:\n"
            "        pass\n")


_CPU: dict[str, list[float]] = {}


def _run(code: str) -> float:
    """Wall seconds of one fresh process (its CPU seconds are kept in ``_CPU[code]``)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    _CPU.setdefault(code, []).append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return wall


def msal_after_intake_probe(connection_string: str, slug: str, start_iso: str) -> dict[str, object]:
    """In a fresh process: import function_app, make ONE intake call, report the heavy modules loaded."""
    code = (
        "import json, sys\n"
        "from bench.intake_probe import probe\n"
        f"print(json.dumps(probe({connection_string!r}, {slug!r}, {start_iso!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"intake probe failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(repeats: int = 21) -> list[Figure]:
    """Median wall time of each command over ``repeats`` alternating fresh processes."""
    third, tops, n_std = third_party_modules()
    log(f"cold import: function_app loads {len(third)} third-party modules from {tops} (+{n_std} stdlib)")
    app_code, base_code = "import function_app", floor_code(third)
    for _ in range(2):  # warm the bytecode caches and the OS page cache
        _run(app_code), _run(base_code)
    _CPU.clear()
    app, base, bare = [], [], []
    for i in range(repeats):
        if i % 2:
            app.append(_run(app_code))
            base.append(_run(base_code))
        else:
            base.append(_run(base_code))
            app.append(_run(app_code))
        if i % 3 == 0:
            bare.append(_run("pass"))
    ratio = median(app) / median(base)
    details = {
        "app_median_s": round(median(app), 4),
        "floor_median_s": round(median(base), 4),
        "interpreter_only_median_s": round(median(bare), 4),
        "cpu_time_ratio": round(median(_CPU[app_code]) / median(_CPU[base_code]), 3),
        "app_cpu_median_s": round(median(_CPU[app_code]), 4),
        "floor_cpu_median_s": round(median(_CPU[base_code]), 4),
        "repeats": repeats,
        "floor": "a fresh process importing only the third-party modules that `import function_app` loads",
        "third_party_top_level": tops,
        "third_party_module_count": len(third),
        "stdlib_modules_added_by_function_app": n_std,
    }
    return [Figure("cold_import_ratio", ratio, "ratio", details)]
