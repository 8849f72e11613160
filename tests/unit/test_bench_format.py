"""``make bench`` output: the BENCH line format and the results.json writer, with made-up numbers."""
from __future__ import annotations

import json
import math

import pytest

from bench.report import AIMS, Figure, format_line, format_value, machine_description, parse_line, write_results


def test_a_line_is_bench_name_value_unit():
    assert format_line(Figure("cold_import_ratio", 1.0412, "ratio")) == "BENCH cold_import_ratio 1.041 ratio"
    assert format_line(Figure("intake_storage_ops_per_booking", 3, "ops/booking")) == \
        "BENCH intake_storage_ops_per_booking 3 ops/booking"
    assert format_line(Figure("throttled_fraction_same_account", 0.0123456, "fraction")) == \
        "BENCH throttled_fraction_same_account 0.0123 fraction"


@pytest.mark.parametrize("value, text", [(0, "0"), (2.0, "2.0"), (0.5, "0.5"), (12.25, "12.25"), (135.2171, "135.2"),
                                         (None, "nan"), (float("nan"), "nan"), (True, "1")])
def test_values_are_printed_for_people_and_parse_back(value, text):
    assert format_value(value) == text
    name, parsed, unit = parse_line(format_line(Figure("x", value, "u")))
    assert (name, unit) == ("x", "u")
    assert (math.isnan(parsed) and text == "nan") or parsed == pytest.approx(float(text))


def test_a_failed_figure_prints_nan_and_names_and_units_are_single_words():
    assert format_line(Figure("sweep_reads_per_candidate_50k", None, "entities/candidate", error="boom")) == \
        "BENCH sweep_reads_per_candidate_50k nan entities/candidate"
    with pytest.raises(ValueError):
        format_line(Figure("two words", 1.0, "ratio"))
    with pytest.raises(ValueError):
        format_line(Figure("x", 1.0, ""))


def test_aims_are_judged_by_their_comparison():
    assert Figure("cold_import_ratio", 1.15, "ratio").meets_aim is True
    assert Figure("cold_import_ratio", 1.2, "ratio").meets_aim is False
    assert Figure("intake_ratio", 0.59, "ratio").meets_aim is False
    assert Figure("duplicates_same_account", 0, "count").meets_aim is True
    assert Figure("graph_calls_per_meeting_same_account", 1.3, "calls/meeting").meets_aim is False
    assert Figure("link_p95_same_account", 80.0, "x_standin_latency").meets_aim is None  # no aim
    assert Figure("intake_ratio", None, "ratio").meets_aim is None
    assert Figure("intake_ratio", 0.7, "ratio").aim == ">= 0.8"  # issue 17
    assert Figure("intake_ratio", 0.79, "ratio").meets_aim is False
    assert Figure("sweep_reads_per_candidate_50k", 1.1, "entities/candidate").meets_aim is True  # issue 15
    assert Figure("sweep_reads_per_candidate_1k", 1.2, "entities/candidate").meets_aim is False
    assert set(AIMS) >= {"cold_import_ratio", "intake_ratio", "availability_fanout_ratio"}


def test_results_json_holds_machine_figures_and_verdicts(tmp_path):
    figures = [
        Figure("cold_import_ratio", 1.05, "ratio", {"app_median_s": 0.2}),
        Figure("intake_ratio", 0.5, "ratio", {"nan_inside": float("nan")}),
        Figure("availability_fanout_ratio", None, "ratio", error="RuntimeError: stand-in down"),
    ]
    machine = machine_description()
    path = write_results(tmp_path / "bench" / "results.json", figures, machine, duration_s=123.456, notes=["n"])
    doc = json.loads(path.read_text(encoding="utf-8"))  # strict JSON: no NaN
    assert doc["machine"]["cpu_count"] == machine["cpu_count"]
    assert {"platform", "cpu_count", "python", "date"} <= set(doc["machine"])
    assert doc["duration_s"] == 123.5
    assert [f["name"] for f in doc["figures"]] == ["cold_import_ratio", "intake_ratio", "availability_fanout_ratio"]
    assert doc["figures"][1]["details"]["nan_inside"] is None
    assert doc["summary"]["cold_import_ratio"] == {"value": 1.05, "unit": "ratio", "aim": "<= 1.15", "meets_aim": True}
    assert doc["short_of_aim"] == ["intake_ratio"]
    assert doc["failed"] == ["availability_fanout_ratio"]
    assert doc["figures"][2]["error"].startswith("RuntimeError")
    assert not (tmp_path / "bench" / "results.json.tmp").exists()


def test_every_part_declares_the_figures_it_prints():
    from bench.run import PARTS

    names = [name for figures in PARTS.values() for name, _ in figures]
    assert len(names) == len(set(names))
    assert set(AIMS) <= set(names)
    for figures in PARTS.values():
        for name, unit in figures:
            format_line(Figure(name, 1.0, unit))
