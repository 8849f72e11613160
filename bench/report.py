"""The output of ``make bench``: one ``BENCH <name> <value> <unit>`` line per figure, and ``results.json``.

Kept free of timing code so ``tests/unit/test_bench_format.py`` can check it with made-up numbers.
"""
from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: What the project aims for, per figure: (comparison, target).
AIMS: dict[str, tuple[str, float]] = {
    "cold_import_ratio": ("<=", 1.15),
    "intake_msal_loaded": ("==", 0),
    "intake_ratio": (">=", 0.8),
    "intake_storage_ops_per_booking": ("<=", 3),
    "intake_storage_ops_per_booking_limited": ("<=", 4),
    "graph_calls_per_meeting_same_account": ("==", 1.0),
    "duplicates_same_account": ("==", 0),
    "duplicates_teams_only": ("==", 0),
    "graph_calls_per_meeting_teams_only": ("==", 1.0),
    "throttled_fraction_same_account": ("==", 0.0),
    "throttled_fraction_teams_only": ("==", 0.0),
    "link_p95_over_floor_same_account": ("<=", 1.5),
    "link_p95_over_floor_teams_only": ("<=", 1.5),
    "availability_fanout_ratio": ("<=", 1.5),
    "availability_visitors_without_429": (">=", 20),
    "sweep_reads_per_candidate_1k": ("<=", 1.1),
    "sweep_reads_per_candidate_50k": ("<=", 1.1),
}


@dataclass
class Figure:
    """One measured figure. ``value`` is ``None`` when the measurement failed (``error`` says why)."""

    name: str
    value: float | int | None
    unit: str
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def aim(self) -> str | None:
        """``"<= 1.15"`` style target, when the project has one for this figure."""
        spec = AIMS.get(self.name)
        return f"{spec[0]} {format_value(spec[1])}" if spec else None

    @property
    def meets_aim(self) -> bool | None:
        """True/False against the aim; ``None`` without an aim or a value."""
        spec = AIMS.get(self.name)
        if spec is None or self.value is None or (isinstance(self.value, float) and math.isnan(self.value)):
            return None
        op, target = spec
        v = float(self.value)
        if op == "<=":
            return v <= target + 1e-9
        if op == ">=":
            return v >= target - 1e-9
        return abs(v - target) <= 1e-9

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``aim`` and ``meets_aim`` included)."""
        data = asdict(self)
        data["aim"] = self.aim
        data["meets_aim"] = self.meets_aim
        return data


def format_value(value: float | int | bool | None) -> str:
    """Numbers as a person reads them: integers plain, other floats with 3 significant decimals."""
    if value is None:
        return "nan"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return "nan"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{value:.1f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.3f}".rstrip("0").rstrip(".")


def format_line(fig: Figure) -> str:
    """``BENCH <name> <value> <unit>`` (names and units never contain spaces)."""
    for part in (fig.name, fig.unit):
        if not part or any(ch.isspace() for ch in part):
            raise ValueError(f"figure names and units must be one word: {part!r}")
    return f"BENCH {fig.name} {format_value(fig.value)} {fig.unit}"


def parse_line(line: str) -> tuple[str, float, str]:
    """Inverse of :func:`format_line` (``nan`` for a failed figure)."""
    tag, name, value, unit = line.split(" ")
    if tag != "BENCH":
        raise ValueError(f"not a BENCH line: {line!r}")
    return name, float(value), unit


def machine_description(now: datetime | None = None) -> dict[str, Any]:
    """Where the numbers were taken: platform, CPU count, Python version, date (UTC)."""
    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_model() or platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "date": (now or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "load_average_at_start": load,
    }


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def results_document(figures: Iterable[Figure], machine: dict[str, Any], *, duration_s: float | None = None,
                     notes: list[str] | None = None) -> dict[str, Any]:
    """What ``bench/results.json`` holds."""
    figs = list(figures)
    return {
        "machine": machine,
        "duration_s": None if duration_s is None else round(duration_s, 1),
        "figures": [f.to_dict() for f in figs],
        "summary": {f.name: {"value": f.value, "unit": f.unit, "aim": f.aim, "meets_aim": f.meets_aim}
                    for f in figs},
        "short_of_aim": [f.name for f in figs if f.meets_aim is False],
        "failed": [f.name for f in figs if f.value is None],
        "notes": notes or [],
    }


def write_results(path: Path, figures: Iterable[Figure], machine: dict[str, Any], *,
                  duration_s: float | None = None, notes: list[str] | None = None) -> Path:
    """Write ``results.json`` (atomically: a reader never sees half a file)."""
    doc = results_document(figures, machine, duration_s=duration_s, notes=notes)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    text = json.dumps(_clean(doc), indent=2, default=_json_default, allow_nan=False)
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _clean(value: Any) -> Any:
    """NaN/inf become ``null`` (strict JSON), containers are walked."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_clean(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def emit(fig: Figure, stream: Any = None) -> None:
    """Print a figure's line at once (a long run shows its progress)."""
    out = stream or sys.stdout
    print(format_line(fig), file=out, flush=True)
