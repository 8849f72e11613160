"""``make bench``: every figure, one ``BENCH <name> <value> <unit>`` line each, then ``bench/results.json``
(with the machine's description) and ``bench/link_latency.png``. See ``bench/README.md``.

``python -m bench.run [--only cold_import,intake,meetings,availability,sweep] [--quick] [--what-if]``
"""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import ROOT, log
from bench.report import Figure, emit, machine_description, write_results

RESULTS = ROOT / "bench" / "results.json"
CHART = ROOT / "bench" / "link_latency.png"

#: Every figure each part prints (a failed part prints its figures as ``nan``).
PARTS: dict[str, list[tuple[str, str]]] = {
    "cold_import": [("cold_import_ratio", "ratio")],
    "intake": [("intake_ratio", "ratio"), ("intake_storage_ops_per_booking", "ops/booking"),
               ("intake_storage_ops_per_booking_limited", "ops/booking"), ("intake_msal_loaded", "bool")],
    "meetings": [(f"{fig}_{case}", unit) for case in ("same_account", "teams_only")
                 for fig, unit in (("graph_calls_per_meeting", "calls/meeting"), ("throttled_fraction", "fraction"),
                                   ("duplicates", "count"), ("link_p50", "x_standin_latency"),
                                   ("link_p95", "x_standin_latency"), ("link_p95_floor", "x_standin_latency"),
                                   ("link_p95_over_floor", "ratio"))],
    "availability": [("availability_fanout_ratio", "ratio"),
                     ("availability_visitors_without_429", "visitors/s")],
    "sweep": [("sweep_reads_per_candidate_1k", "entities/candidate"),
              ("sweep_reads_per_candidate_50k", "entities/candidate")],
}


class PoolFullCounter(logging.Handler):
    """Counts urllib3's "Connection pool is full, discarding connection" warnings (instead of printing them):
    each one is a connection opened and thrown away because more threads used a client than its pool keeps."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0
        self.by_thread: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("Connection pool is full"):
            self.count += 1
            kind = (record.threadName or "?").rstrip("0123456789_").rsplit("-", 1)[0] or "?"
            self.by_thread[kind] = self.by_thread.get(kind, 0) + 1


class Runner:
    """Runs the parts in order, printing each figure as soon as it is known."""

    def __init__(self, quick: bool, what_if: bool) -> None:
        self.quick, self.what_if = quick, what_if
        self.figures: list[Figure] = []
        self.latency_samples: dict[str, list[float]] = {}
        self.notes: list[str] = []
        self.pool_full = PoolFullCounter()
        pool_logger = logging.getLogger("urllib3.connectionpool")
        pool_logger.addHandler(self.pool_full)
        pool_logger.propagate = False

    def part(self, name: str, fn: Callable[[], list[Figure]]) -> None:
        started = time.monotonic()
        pool_full_before = self.pool_full.count
        self.pool_full.by_thread = {}
        log(f"{name} ...")
        try:
            figures = fn()
        except Exception as exc:  # noqa: BLE001 - one part failing must not hide the others
            traceback.print_exc(file=sys.stderr)
            error = f"{type(exc).__name__}: {exc}"[:500]
            figures = [Figure(n, None, unit, error=error) for n, unit in PARTS[name]]
        discarded = self.pool_full.count - pool_full_before
        for fig in figures:
            fig.details.setdefault("part_seconds", round(time.monotonic() - started, 1))
            fig.details.setdefault("http_connections_discarded_pool_full", discarded)
            if discarded:
                fig.details.setdefault("pool_full_by_thread", dict(self.pool_full.by_thread))
            emit(fig)
            self.figures.append(fig)

    # ------------------------------------------------------------------ parts
    def cold_import(self) -> list[Figure]:
        from bench import cold_import

        return cold_import.run(repeats=9 if self.quick else 21)

    def intake_and_availability(self, which: set[str]) -> None:
        from bench.common import azurite

        with tempfile.TemporaryDirectory(prefix="bench-azurite-") as tmp, azurite(Path(tmp) / "azurite") as az:
            if "intake" in which:
                self.part("intake", lambda: self._intake(az.connection_string))
            if "availability" in which:
                from bench import availability

                self.part("availability", lambda: availability.run(az.connection_string,
                                                                   repeats=5 if self.quick else 9))

    def _intake(self, connection_string: str) -> list[Figure]:
        from bench import cold_import, intake

        figures, probe = intake.run(connection_string, per_thread=20 if self.quick else 40,
                                    rounds=2 if self.quick else 5)
        found = cold_import.msal_after_intake_probe(connection_string, probe["slug"], probe["start"])
        loaded = found["loaded_after_call"]
        figures.append(Figure("intake_msal_loaded", 1 if loaded.get("msal") else 0, "bool", {
            "probe": "fresh process: import function_app, one intake call, then sys.modules",
            "intake_status": found["status"], "heavy_modules_after_one_intake": loaded,
            "heavy_modules_after_import_function_app": found["loaded_before_call"]}))
        return figures

    def meetings(self) -> list[Figure]:
        from bench import meetings

        figures, samples = meetings.run(bookings=60 if self.quick else 200)
        self.latency_samples.update(samples)
        if self.what_if:
            overrides = {"queues": {"batchSize": 3, "newBatchThreshold": 1}}
            alt, alt_samples = meetings.run(bookings=60 if self.quick else 200, host_json_overrides=overrides)
            for fig in figures:
                twin = next((f for f in alt if f.name == fig.name), None)
                if twin is not None:
                    fig.details["what_if_at_most_4_concurrent_invocations"] = {"value": twin.value, **{
                        k: v for k, v in twin.details.items() if k in ("link_p50_s", "link_p95_s", "graph",
                                                                        "total_s", "states")}}
            self.latency_samples.update({f"{k} (at most 4 invocations)": v for k, v in alt_samples.items()})
        return figures

    def sweep(self) -> list[Figure]:
        from bench import sweep

        sizes = (("1k", 1_000), ("50k", 5_000 if self.quick else 50_000))
        return sweep.run(sizes)


def link_latency_chart(samples: dict[str, list[float]], path: Path, latency_ms: int) -> Path | None:
    """Histogram and cumulative distribution of booking-accepted -> link-stored, per case."""
    if not any(samples.values()):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (hist, cdf) = plt.subplots(1, 2, figsize=(11, 4.2))
    top = max(max(v) for v in samples.values() if v)
    bins = [top * i / 40 for i in range(41)]
    for name, values in samples.items():
        if not values:
            continue
        data = sorted(values)
        hist.hist(data, bins=bins, alpha=0.55, label=f"{name} (n={len(data)})")
        cdf.plot(data, [(i + 1) / len(data) for i in range(len(data))], label=name)
    for q in (0.5, 0.95):
        cdf.axhline(q, color="grey", linewidth=0.6, linestyle=":")
    hist.set_xlabel("seconds from booking accepted to link stored")
    hist.set_ylabel("bookings")
    hist.legend(fontsize=8)
    cdf.set_xlabel("seconds")
    cdf.set_ylabel("fraction of bookings with their link")
    cdf.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Teams link latency under a burst to one mailbox (stand-in: {latency_ms} ms per Graph call, "
                 "4 concurrent per mailbox)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _git() -> dict[str, Any]:
    def out(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": out("rev-parse", "--short", "HEAD") or None, "dirty": bool(out("status", "--porcelain"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated parts: " + ",".join(PARTS))
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller sizes (not comparable)")
    parser.add_argument("--what-if", action="store_true",
                        help="also run the meetings burst with at most 4 concurrent queue invocations")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--chart", type=Path, default=CHART)
    args = parser.parse_args(argv)
    which = {p.strip() for p in args.only.split(",") if p.strip()} or set(PARTS)
    unknown = which - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))

    started = time.monotonic()
    machine = machine_description()
    machine["git"] = _git()
    runner = Runner(args.quick, args.what_if)
    if "cold_import" in which:
        runner.part("cold_import", runner.cold_import)
    if which & {"intake", "availability"}:
        runner.intake_and_availability(which)
    if "meetings" in which:
        runner.part("meetings", runner.meetings)
    if "sweep" in which:
        runner.part("sweep", runner.sweep)

    notes = ["quick mode: fewer repeats and smaller sizes, not comparable"] if args.quick else []
    chart = None
    if runner.latency_samples:
        from bench.meetings import LATENCY_MS

        try:
            chart = link_latency_chart(runner.latency_samples, args.chart, LATENCY_MS)
        except Exception as exc:  # noqa: BLE001 - the numbers matter more than the picture
            notes.append(f"chart not written: {type(exc).__name__}: {exc}")
    duration = time.monotonic() - started
    path = write_results(args.results, runner.figures, machine, duration_s=duration, notes=notes)
    short = [f.name for f in runner.figures if f.meets_aim is False]
    failed = [f.name for f in runner.figures if f.value is None]
    print(f"bench: {len(runner.figures)} figures in {duration:.0f}s on {machine['cpu_count']} CPUs; "
          f"results {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
          + (f", chart {chart.relative_to(ROOT) if chart.is_relative_to(ROOT) else chart}" if chart else ""),
          flush=True)
    print(f"bench: short of aim: {', '.join(short) or 'none'}; failed: {', '.join(failed) or 'none'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
