"""bench/data_pipeline.py's judge: one PASS/FAIL line per aim, the exit status follows the verdicts.

These tests feed the judge (``check_aims``/``report_checks``) chosen inputs around each aim's
threshold; they say nothing about how fast the data stage is. The measured figures come from
running the bench itself (docs/benchmarks.md); a small real run takes ~5 minutes on 2 cores, too
long for the unit tier.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_data_pipeline", ROOT / "bench" / "data_pipeline.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# Inputs that meet every aim (shaped like the bench's own results JSON).
RESULTS = {
    "end_to_end": [{"records": 100_000, "rss_main_mb": 562.0, "rss_worker_max_mb": 601.0},
                   {"records": 10_000, "rss_main_mb": 502.0, "rss_worker_max_mb": 576.0}],
    "pii_step": {"speedup_single": 6.6, "baseline_records_per_s": 82.0, "ours_single_records_per_s": 537.7},
    "pii_recall": {"ours_recall": 0.931, "baseline_recall": 0.917, "labelled_records": 240},
}


def _verdicts(bench, results):
    return {c["name"]: c["ok"] for c in bench.check_aims(results)}


def test_results_meeting_every_aim_pass(bench, capsys):
    checks = bench.check_aims(RESULTS)
    assert {c["name"]: c["ok"] for c in checks} == {"PII speed-up": True, "PII recall": True, "memory": True}
    assert bench.report_checks(checks) is True
    out = capsys.readouterr().out
    assert "PASS  PII speed-up: 6.6x" in out and "(1.12x)" in out and out.strip().endswith("RESULT: PASS")


@pytest.mark.parametrize("speedup, ok", [(5.0, True), (4.99, False)])
def test_speed_aim_threshold_is_inclusive(bench, speedup, ok):
    results = copy.deepcopy(RESULTS)
    results["pii_step"]["speedup_single"] = speedup
    assert _verdicts(bench, results)["PII speed-up"] is ok


@pytest.mark.parametrize("path, value, missed", [
    (("pii_step", "speedup_single"), 4.9, "PII speed-up"),
    (("pii_recall", "ours_recall"), 0.9, "PII recall"),
    (("end_to_end", 0, "rss_main_mb"), 1004.0, "memory"),        # 2.0x the 10k peak: growing with the data
    (("end_to_end", 0, "rss_worker_max_mb"), 1200.0, "memory"),
])
def test_a_missed_aim_fails(bench, capsys, path, value, missed):
    results = copy.deepcopy(RESULTS)
    target = results
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    checks = bench.check_aims(results)
    assert [c["name"] for c in checks if c["ok"] is False] == [missed]
    assert bench.report_checks(checks) is False
    assert f"RESULT: FAIL, missed: {missed}" in capsys.readouterr().out


def test_memory_needs_two_sizes_and_single_process_runs_skip_workers(bench):
    one = copy.deepcopy(RESULTS)
    one["end_to_end"] = one["end_to_end"][:1]
    assert _verdicts(bench, one)["memory"] is None
    serial = copy.deepcopy(RESULTS)
    for r in serial["end_to_end"]:
        r["rss_worker_max_mb"] = 0.0  # num_proc 1: no worker processes
    [mem] = [c for c in bench.check_aims(serial) if c["name"] == "memory"]
    assert mem["ok"] is True and "worker" not in mem["detail"]
