"""Checkpoint writing, pruning and restoring; the metrics log on resume; the NaN guard."""

from __future__ import annotations

import json
import random

import pytest
import torch

from tailorlm.train import checkpoints as ck
from tailorlm.train.metrics_writer import MetricsWriter, TrainingDiverged, check_finite, read_metrics


def _parts(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    return model, opt, sched


def _train(model, opt, sched, steps):
    for _ in range(steps):
        x = torch.nn.functional.dropout(torch.randn(8, 4), 0.5)  # consumes the RNG, like LoRA dropout
        model(x).pow(2).mean().backward()
        opt.step()
        sched.step()
        opt.zero_grad()


def test_restore_continues_exactly(tmp_path):
    model, opt, sched = _parts()
    _train(model, opt, sched, 3)
    ck.save_checkpoint(tmp_path, 3, model, opt, sched, {"step": 3})
    random.random()
    _train(model, opt, sched, 2)
    expected = model.weight.detach().clone()

    model2, opt2, sched2 = _parts(seed=99)  # different init and RNG: everything must come from disk
    state = ck.load_checkpoint(tmp_path / "step-000003", model2, opt2, sched2)
    assert state["step"] == 3 and sched2.last_epoch == 3
    _train(model2, opt2, sched2, 2)
    assert torch.equal(model2.weight, expected)


def test_prune_keeps_last_k_and_best_and_ignores_staging(tmp_path):
    model, opt, sched = _parts()
    for step in (2, 4, 6, 8):
        ck.save_checkpoint(tmp_path, step, model, opt, sched, {"step": step})
    (tmp_path / ".staging-step-000010").mkdir()  # a write killed half-way
    assert [s for s, _ in ck.list_checkpoints(tmp_path)] == [2, 4, 6, 8]
    ck.prune(tmp_path, keep=2, best_step=2)
    assert [s for s, _ in ck.list_checkpoints(tmp_path)] == [2, 6, 8]
    assert ck.latest_checkpoint(tmp_path).name == "step-000008"
    ck.clean_staging(tmp_path)
    assert not (tmp_path / ".staging-step-000010").exists()


def test_monitor_drops_lines_after_the_resumed_checkpoint(tmp_path):
    m = MetricsWriter(tmp_path, tensorboard=False)
    for step in range(1, 6):
        m.log({"step": step, "loss": 1.0 / step})
    m.log({"step": 4, "eval_loss": 0.3})
    m.close()
    m = MetricsWriter(tmp_path, resume_step=3, tensorboard=False)
    m.log({"step": 4, "loss": 0.2})
    assert m.plot().stat().st_size > 1000
    m.close()
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4]
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1]) == {"step": 4, "loss": 0.2}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_guard_names_the_step_and_the_fix(bad):
    with pytest.raises(TrainingDiverged, match=r"step 7: the training loss is .*Lower train\.learning_rate"):
        check_finite(bad, 7)
    check_finite(1.5, 7)  # finite values pass
