"""bench/train_throughput.py and its baselines (bench/train_baselines.py) keep working: every baseline
builder trains one real step on the tiny model and counts exactly the real tokens, our path runs,
the generation rows share no prefix, and the verdict compares ours with the *best* baseline at the
same precision (no timing is asserted)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("train_throughput"), importlib.import_module("train_baselines")
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _causal(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path)


@pytest.mark.parametrize("builder", ["trainer_sft", "trainer_sft_grouped_bf16", "trl_sft"])
def test_generative_baselines_train_one_step_on_all_real_tokens(bench, tok, tiny_model_dir, tmp_path, builder):
    tt, tb = bench
    rows = tt.encode_rows("sft", 6, tok)
    fn = {"trainer_sft": tb.trainer_sft, "trl_sft": tb.trl_sft,
          "trainer_sft_grouped_bf16": lambda *a: tb.trainer_sft(*a, bf16=True, grouped=True)}[builder]
    times, tokens = fn(_causal(tiny_model_dir), tok, rows, 1, len(rows), str(tmp_path))
    assert len(times) == 1 and times[0] > 0
    assert tokens == [sum(len(e) for e in rows)]  # one batch holds every row; padding is not counted


def test_seqcls_baseline_trains_one_step(bench, tok, tiny_model_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification

    tt, tb = bench
    rows = tt.encode_rows("cls", 6, tok)
    assert {type(e.meta["class"]) for e in rows} == {int}
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=tt.n_labels(),
                                                               pad_token_id=tok.pad_token_id)
    times, tokens = tb.trainer_seqcls(model, tok, rows, 1, len(rows), str(tmp_path))
    assert len(times) == 1 and tokens == [sum(len(e) for e in rows)]


def test_generation_rows_share_no_prefix_and_keep_the_answer_loss(bench, tok):
    tt, _ = bench
    rows = tt.encode_rows("gen", 12, tok)
    assert min(tt._common_prefix(rows[0].input_ids, e.input_ids) for e in rows[1:]) == 0
    assert all(e.n_loss_tokens > 60 for e in rows)  # answers of ~125 tokens (+ EOS) carry the loss


@pytest.mark.parametrize("workload,path", [("classification", "ours"), ("generation", "ours")])
def test_our_path_runs_as_tailorlm_train_sets_it_up(bench, tiny_model_dir, tmp_path, workload, path):
    tt, _ = bench
    args = argparse.Namespace(workload=workload, path=path, precision="fp32", steps=2, batch_size=4, examples=8,
                              model=str(tiny_model_dir), tmp=str(tmp_path))
    r = tt.child(args)
    assert r["timed_steps"] == 1 and r["timed_tokens"] > 0 and r["examples_per_second"] > 0


def _row(path, precision, rate):
    return {"path": path, "precision": precision, "examples_per_second": rate}


def test_verdict_is_against_the_best_baseline_at_equal_precision(bench, capsys):
    tt, _ = bench
    args = argparse.Namespace(workload="classification", precisions=["fp32", "bf16"])
    best = {("ours", "bf16"): _row("ours", "bf16", 30.0), ("ours", "fp32"): _row("ours", "fp32", 12.0),
            ("Trainer defaults", "fp32"): _row("Trainer defaults", "fp32", 2.0),
            ("Trainer seq-cls group_by_length", "bf16"): _row("Trainer seq-cls group_by_length", "bf16", 20.0),
            ("Trainer seq-cls group_by_length", "fp32"): _row("Trainer seq-cls group_by_length", "fp32", 4.0),
            ("TRL SFTTrainer padding-free", "bf16"): _row("TRL SFTTrainer padding-free", "bf16", 5.0)}
    assert tt.report(args, best, "bf16") is False  # 1.5x the best bf16 baseline, though 15x the defaults
    out = capsys.readouterr().out
    assert "ratio 1.50x" in out and "ratio 3.00x" in out and "ratio 15.00x" in out and "FAIL" in out
    best[("ours", "bf16")] = _row("ours", "bf16", 41.0)
    assert tt.report(args, best, "bf16") is True
    assert "PASS" in capsys.readouterr().out


def test_help_lists_the_workloads(bench, capsys):
    tt, _ = bench
    with pytest.raises(SystemExit) as done:
        tt.main(["--help"])
    assert done.value.code == 0 and "generation" in capsys.readouterr().out
