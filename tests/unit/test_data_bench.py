"""bench/data_pipeline.py judges its own results: one PASS/FAIL line per aim of the data issue."""

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


# A run that meets every aim (memory as recorded 2026-11-23; PII figures at the targets of the PII issue).
RESULTS = {
    "end_to_end": [{"records": 100_000, "rss_main_mb": 562.0, "rss_worker_max_mb": 601.0},
                   {"records": 10_000, "rss_main_mb": 502.0, "rss_worker_max_mb": 576.0}],
    "pii_step": {"speedup_single_cpu": 2.1, "baseline_records_per_cpu_s": 195.0, "ours_single_records_per_cpu_s": 410.0},
    "pii_recall": {"file": "heldout.jsonl",
                   "groups": {"structured": {"tailorlm": 1.0, "presidio": 0.91, "gold": 462},
                              "names": {"tailorlm": 0.96, "presidio": 0.76, "gold": 397},
                              "addresses": {"tailorlm": 0.91, "presidio": 0.32, "gold": 458},
                              "dates_ages": {"tailorlm": 1.0, "presidio": 0.84, "gold": 229},
                              "places": {"tailorlm": 0.8, "presidio": 0.5, "gold": 353}},
                   "unchanged": {"tailorlm": 0.98, "presidio": 0.26}},
}
AIMS = {"PII speed-up": True, "PII structured": True, "PII names": True, "PII addresses": True,
        "PII dates_ages": True, "PII-free unchanged": True, "memory": True}


def _verdicts(bench, results):
    return {c["name"]: c["ok"] for c in bench.check_aims(results)}


def test_recorded_run_meets_every_aim(bench, capsys):
    checks = bench.check_aims(RESULTS)
    assert {c["name"]: c["ok"] for c in checks} == AIMS
    assert bench.report_checks(checks) is True
    out = capsys.readouterr().out
    assert "PASS  PII speed-up: 2.10x" in out and "(1.12x)" in out and out.strip().endswith("RESULT: PASS")


@pytest.mark.parametrize("path, value, missed", [
    (("pii_step", "speedup_single_cpu"), 1.9, "PII speed-up"),
    (("pii_recall", "groups", "names", "tailorlm"), 0.94, "PII names"),            # under the target
    (("pii_recall", "groups", "addresses", "presidio"), 0.95, "PII addresses"),    # under Presidio
    (("pii_recall", "unchanged", "tailorlm"), 0.96, "PII-free unchanged"),
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
