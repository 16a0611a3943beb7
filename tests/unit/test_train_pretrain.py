"""Continued pretraining: raw text, packed rows, every token trained; packing efficiency reported."""

from __future__ import annotations

import json
from pathlib import Path

from tailorlm.spec import parse_spec
from dataset_fixtures import write_dataset_version
from tailorlm.workspace import Workspace


def test_continued_pretraining_packs_and_learns(tiny_model_dir, tmp_path):
    from tailorlm.train import run_training

    ds = write_dataset_version(tmp_path / "ds", n_train=40, n_val=8, kind="text")
    spec = parse_spec({"project": "cpt", "objective": {"task": "continued_pretraining"},
                       "data": {"sources": [{"path": "docs"}], "max_seq_len": 128}, "model": {"base": str(tiny_model_dir)},
                       "train": {"method": "full", "max_steps": 8, "batch_size": 2, "scheduler": "constant",
                                 "learning_rate": 3e-3, "eval_every": 4, "save_every": 100}}, tmp_path)
    run = run_training(spec, Workspace(tmp_path), ds, progress=False)
    m = run.metrics
    assert 0.8 < m["packing_efficiency"] <= 1.0  # rows filled close to max_seq_len
    rows = [json.loads(x) for x in (Path(run.path) / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    evals = [r["eval_loss"] for r in rows if "eval_loss" in r]
    assert len(losses) == 8 and losses[-1] < losses[0]
    assert len(evals) == 2 and evals[-1] < evals[0]
    # Every non-boundary token carries the loss: tokens trained ~ all tokens seen.
    assert m["train_tokens"] >= 8 * 2 * 0.8 * 64
