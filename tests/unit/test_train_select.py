"""The per-row selected LM-head loss equals the full loss, with its gradients, for every layout and method."""

from __future__ import annotations

import pytest
import torch

from tailorlm.spec import TrainSpec
from tailorlm.train.collate import collate, pack_rows
from tailorlm.train.loop import forward_loss, selection_is_exact
from tailorlm.train.methods import apply_method, virtual_token_offset
from tailorlm.train.tokenize import IGNORE, Encoded


def _rows(n=4, shared=20, seed=0):
    """Generation-like rows: a shared system header, prompts and answers of different lengths."""
    g = torch.Generator().manual_seed(seed)
    head = torch.randint(5, 900, (shared,), generator=g).tolist()
    out = []
    for i in range(n):
        p, a = 6 + 5 * i, 30 - 4 * i
        ids = head + torch.randint(5, 900, (p + a,), generator=g).tolist()
        out.append(Encoded(ids, [IGNORE] * (shared + p) + ids[shared + p:], str(i)))
    return out


def _loss_and_grads(model, batch, offset, **kw):
    model.zero_grad(set_to_none=True)
    loss = forward_loss(model, batch, offset, "cpu", **kw)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return float(loss.detach()), grads


@pytest.mark.parametrize("method, packed, share_prefix", [
    ("lora", False, False), ("lora", False, True), ("lora", True, False), ("full", False, True),
    ("dora", False, True), ("ia3", False, False),
])
def test_selected_head_loss_equals_the_full_loss(method, packed, share_prefix, tiny_model_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    spec = TrainSpec(method=method, lora={"dropout": 0.0})
    model = apply_method(AutoModelForCausalLM.from_pretrained(tiny_model_dir), spec)
    model.train()
    rows = _rows()
    layout = pack_rows(rows, 128) if packed else [[r] for r in rows]
    batch = collate(layout, tokenizer.pad_token_id, packed=packed)
    offset = virtual_token_offset(spec)
    assert selection_is_exact(model)
    full, g_full = _loss_and_grads(model, batch, offset, share_prefix=share_prefix)
    sel, g_sel = _loss_and_grads(model, batch, offset, share_prefix=share_prefix, select=True)
    assert sel == pytest.approx(full, abs=1e-5)
    assert g_full.keys() == g_sel.keys() and g_full
    for name in g_full:
        torch.testing.assert_close(g_sel[name], g_full[name], atol=1e-5, rtol=1e-4, msg=name)


class ScaledLogits(torch.nn.Module):
    """A causal LM whose logits are the head's output times 2 (like Granite's logit scaling)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def get_output_embeddings(self):
        return self.inner.get_output_embeddings()

    def get_decoder(self):
        return self.inner.get_decoder()

    def forward(self, **kw):
        out = self.inner(**kw)
        out.logits = out.logits * 2
        return out


def test_selection_is_refused_where_the_model_post_processes_logits(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert selection_is_exact(model)
    assert not selection_is_exact(ScaledLogits(model))


@pytest.mark.parametrize("method", ["prefix", "prompt"])
def test_selection_is_refused_for_virtual_token_methods(method, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = apply_method(AutoModelForCausalLM.from_pretrained(tiny_model_dir), TrainSpec(method=method))
    assert not selection_is_exact(model)


@pytest.mark.parametrize("method, expected", [("lora", "labelled positions per row"),
                                              ("prompt", "logits_to_keep (batch union)")])
def test_a_training_run_uses_selection_where_exact_and_records_it(method, expected, tiny_model_dir, tmp_path):
    import json
    import math

    from sqlalchemy import text

    from tailorlm.spec import parse_spec
    from tailorlm.train import run_training
    from dataset_fixtures import write_dataset_version
    from tailorlm.workspace import Workspace

    ds = write_dataset_version(tmp_path / "ds", n_train=8, n_val=2)
    spec = parse_spec({"project": "t", "data": {"sources": [{"path": "x.jsonl"}]},
                       "model": {"base": str(tiny_model_dir)},
                       "train": {"method": method, "head": "lm", "max_steps": 2, "batch_size": 4, "eval_every": 2}},
                      tmp_path)  # head: lm (auto would pick the classifier head, which has no LM head)
    ws = Workspace(tmp_path)
    run = run_training(spec, ws, ds, progress=False)
    with ws.store.engine.connect() as conn:
        info = json.loads(conn.execute(text("SELECT info FROM runs WHERE id=:i"), {"i": run.run_id}).scalar_one())
    assert info["lm_head"] == expected
    assert run.metrics["steps"] == 2 and math.isfinite(run.metrics["train_loss"])
