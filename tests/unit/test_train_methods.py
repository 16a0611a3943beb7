"""Every adaptation method trains the tiny model: the loss falls and the trainable weights change.

QLoRA needs CUDA (bitsandbytes 4-bit kernels); on CPU it is refused at spec check (tested in
test_spec.py) and its run test here is skipped.
"""

from __future__ import annotations

import json

import pytest
import torch

from tailorlm.spec import ObjectiveSpec, TrainSpec
from tailorlm.train.collate import collate, pack_rows
from tailorlm.train.loop import forward_loss
from tailorlm.train.methods import METHODS, apply_method, learning_rate, virtual_token_offset
from tailorlm.train.tokenize import encode_sft

OBJ = ObjectiveSpec(task="classification", instruction="Classify.")
LABELS = ["card_lost", "check_balance"]
CPU_METHODS = ["full", "lora", "dora", "prefix", "prompt", "ia3"]
# A few steps on one fixed batch: rates high enough that the tiny random model visibly learns.
STEP_LR = {"full": 1e-3, "lora": 1e-2, "dora": 1e-2, "prefix": 3e-2, "prompt": 1e-1, "ia3": 5e-2}


def _batch(tokenizer, packed=False):
    rows = [
        {"id": str(i), "prompt": json.dumps([{"role": "user", "content": t}]), "completion": c}
        for i, (t, c) in enumerate([("I lost my card", "card_lost"), ("balance?", "check_balance"),
                                    ("card gone", "card_lost"), ("how much money do I have", "check_balance")])
    ]
    encs = [encode_sft(r, tokenizer, OBJ, LABELS) for r in rows]
    layout = pack_rows(encs, 256) if packed else [[e] for e in encs]
    return collate(layout, tokenizer.pad_token_id, packed=packed)


def _train(model, spec: TrainSpec, batch, steps=6):
    params = [p for p in model.parameters() if p.requires_grad]
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    opt = torch.optim.AdamW(params, lr=STEP_LR[spec.method])
    losses = []
    model.train()
    for _ in range(steps):
        loss = forward_loss(model, batch, virtual_token_offset(spec), "cpu")
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    changed = [n for n, p in model.named_parameters() if p.requires_grad and not torch.equal(before[n], p.detach())]
    return losses, changed, len(before)


@pytest.mark.parametrize("method", CPU_METHODS)
def test_method_trains_tiny_model(method, tiny_model_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    spec = TrainSpec(method=method, lora={"dropout": 0.0})
    model = apply_method(AutoModelForCausalLM.from_pretrained(tiny_model_dir), spec)
    n_total = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if method == "full":
        assert n_train == n_total
    else:
        assert 0 < n_train < n_total / 2  # the base is frozen
    losses, changed, n_trainable = _train(model, spec, _batch(tokenizer))
    assert losses[-1] < losses[0] - 0.05, losses
    assert len(changed) == n_trainable  # every trainable tensor moved


def test_lora_trains_with_packing(tiny_model_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    spec = TrainSpec(method="lora")
    model = apply_method(AutoModelForCausalLM.from_pretrained(tiny_model_dir), spec)
    batch = _batch(tokenizer, packed=True)
    assert batch.input_ids.shape[0] == 1 and batch.attention_mask is None
    losses, changed, n = _train(model, spec, batch)
    assert losses[-1] < losses[0] and len(changed) == n


def test_lora_options_reach_the_peft_config():
    cfg = METHODS["lora"](TrainSpec(lora={"r": 4, "alpha": 8, "dropout": 0.1, "target_modules": ["q_proj", "v_proj"]}))
    assert (cfg.r, cfg.lora_alpha, cfg.lora_dropout) == (4, 8, 0.1)
    assert set(cfg.target_modules) == {"q_proj", "v_proj"}
    assert METHODS["dora"](TrainSpec()).use_dora is True
    assert METHODS["full"](TrainSpec()) is None


def test_default_learning_rate_per_method():
    assert learning_rate(TrainSpec(method="lora")) == 3e-4
    assert learning_rate(TrainSpec(method="full")) == 2e-5
    assert learning_rate(TrainSpec(method="full", learning_rate=1e-4)) == 1e-4
    # A time-budgeted run (tens of steps) starts the LoRA family higher; an explicit rate always wins.
    assert learning_rate(TrainSpec(method="lora"), budgeted=True) == 1e-3
    assert learning_rate(TrainSpec(method="full"), budgeted=True) == 2e-5
    assert learning_rate(TrainSpec(method="lora", learning_rate=2e-4), budgeted=True) == 2e-4


def _has_bitsandbytes() -> bool:
    import importlib.util

    return importlib.util.find_spec("bitsandbytes") is not None


def _qlora_skip_reason() -> str:
    if not torch.cuda.is_available():
        return "QLoRA needs CUDA (bitsandbytes 4-bit); refused on CPU at spec check"
    return "" if _has_bitsandbytes() else "QLoRA needs bitsandbytes: pip install 'tailorlm[qlora]'"


@pytest.mark.cuda
@pytest.mark.skipif(bool(_qlora_skip_reason()), reason=_qlora_skip_reason() or "runs")
def test_qlora_trains_on_cuda(tiny_model_dir, tokenizer):  # pragma: no cover - CUDA only
    from tailorlm.train.methods import load_for_method

    torch.manual_seed(0)
    spec = TrainSpec(method="qlora", lora={"dropout": 0.0})
    model = apply_method(load_for_method(spec, str(tiny_model_dir), "cuda", torch.bfloat16), spec)
    assert any("4bit" in type(m).__name__ for m in model.modules())  # the base really is quantized
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert before
    batch = _batch(tokenizer)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(6):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = forward_loss(model, batch, 0, "cuda")
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0], losses
    unchanged = [n for n, p in model.named_parameters() if p.requires_grad and torch.equal(before[n], p.detach())]
    assert not unchanged, unchanged  # every adapter tensor moved


def test_qlora_without_bitsandbytes_fails_at_spec_check(tmp_path, monkeypatch):
    """A CUDA machine without bitsandbytes is refused at spec check with the install command."""
    import importlib.util

    from tailorlm.spec import parse_spec
    from tailorlm.spec.checks import check_method

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    spec = parse_spec({"project": "q", "data": {"sources": [{"path": "x"}]}, "train": {"method": "qlora"}}, tmp_path)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real_find_spec(name, *a))
    assert check_method(spec, False) == [
        "train.method: qlora needs the bitsandbytes package (4-bit kernels), which is not installed. "
        "Install it with: pip install 'tailorlm[qlora]' (or use method: lora)."]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "bitsandbytes" else real_find_spec(name, *a))
    assert check_method(spec, False) == []  # CUDA and bitsandbytes present: accepted


def test_train_checks_catch_bad_combinations(tiny_model_dir, tmp_path):
    from tailorlm.spec import parse_spec
    from tailorlm.train.checks import CHECKS

    def problems(max_seq_len=256, **train):
        spec = parse_spec({"project": "c", "data": {"sources": [{"path": "x"}], "max_seq_len": max_seq_len},
                           "model": {"base": str(tiny_model_dir)}, "train": train}, tmp_path)
        return [p for check in CHECKS for p in check(spec, True)]

    assert problems() == []
    assert any("max_position_embeddings (1024)" in p for p in problems(max_seq_len=4096))
    assert any("cannot trigger" in p for p in problems(max_steps=10, eval_every=5, early_stopping_patience=3))
