"""Acceptance per method through the real ``run_training``: loss falls, weights move, the artifact reloads.

test_train_methods.py checks each method on one fixed batch with a hand loop; here the whole stage
runs (tokenizing, batch plan, scheduler, validation, checkpoint, artifact) for a few steps on the
tiny random Llama, and the saved artifact must give the in-memory model's logits back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tailorlm.spec import parse_spec
from dataset_fixtures import write_dataset_version
from tailorlm.workspace import Workspace

# Rates high enough that the tiny random model visibly learns in a few steps.
STEP_LR = {"full": 1e-3, "lora": 1e-2, "dora": 1e-2, "ia3": 0.2, "prefix": 0.1, "prompt": 0.3}
IDS = torch.tensor([[1, 9690, 198, 67, 2, 198, 1, 4093, 198]])


def _spec(root: Path, base: Path, method: str):
    train = {"method": method, "head": "lm", "max_steps": 6, "batch_size": 8, "eval_every": 3, "save_every": 3,
             "learning_rate": STEP_LR[method], "scheduler": "constant", "warmup_ratio": 0.0,
             "lora": {"dropout": 0.0}}
    return parse_spec({"project": "acc", "data": {"sources": [{"path": "x.jsonl"}]}, "model": {"base": str(base)},
                       "train": train}, root)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset_version(tmp_path_factory.mktemp("ds"), n_train=32, n_val=8)


def _train(method, base, root, dataset, monkeypatch):
    """Run the stage; returns the run, the model it trained (in memory) and its trainable weights at step 0."""
    from tailorlm.train import run, run_training
    from tailorlm.train.checkpoints import trainable_state

    seen = {}

    def capture(model, spec, *task_type):
        wrapped = run.apply_method.__wrapped__(model, spec, *task_type)
        seen.update(model=wrapped, initial=trainable_state(wrapped))
        return wrapped

    capture.__wrapped__ = run.apply_method
    monkeypatch.setattr(run, "apply_method", capture)
    result = run_training(_spec(root, base, method), Workspace(root), dataset, progress=False)
    return result, seen["model"].eval(), seen["initial"]


@pytest.mark.parametrize("method", list(STEP_LR))
def test_method_trains_through_run_training(method, tiny_model_dir, dataset, tmp_path, monkeypatch):
    from tailorlm.models.trained import load_trained

    torch.manual_seed(0)
    result, model, initial = _train(method, tiny_model_dir, tmp_path, dataset, monkeypatch)

    losses = [r["loss"] for r in map(json.loads, (Path(result.path) / "metrics.jsonl").read_text().splitlines())
              if "loss" in r]
    assert len(losses) == 6 and losses[-1] < losses[0] - 0.05, losses

    trained = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    assert trained.keys() == initial.keys() and trained
    unchanged = [n for n, t in trained.items() if torch.equal(t, initial[n])]
    assert not unchanged, unchanged  # every trainable tensor moved away from its step-0 value

    reloaded = load_trained(result.model_path, device="cpu", dtype="float32")
    with torch.no_grad():
        expected = model(input_ids=IDS).logits
        got = reloaded.model(input_ids=IDS).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)

    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    with torch.no_grad():
        base_logits = base(input_ids=IDS).logits
    assert not torch.allclose(base_logits, got[:, -IDS.shape[1]:], atol=1e-4)  # training changed the outputs
