"""Exporting a registered LoRA adapter merged into its base: loads without PEFT, same outputs, audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_registry_helpers import fake_dataset, fake_eval, make_spec

from tailorlm.registry import audit, register_model, resolve
from tailorlm.registry.export import export_version
from tailorlm.results import TrainRun
from tailorlm.workspace import Workspace


def _adapter(base_dir: Path, out: Path) -> Path:
    """A LoRA adapter on the tiny Llama with random (non-zero) B, saved like the trainer saves it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(out)
    (out / "provenance.json").write_text(json.dumps({"method": "lora", "base_ref": "tiny", "base_path": str(base_dir)}))
    return out


def test_merged_export_matches_base_plus_adapter(tmp_path, tiny_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    spec = make_spec(tmp_path / "proj", None)
    ws = Workspace.for_spec(spec)
    adapter = _adapter(tiny_model_dir, ws.runs / "run-1" / "adapter")
    run = TrainRun(run_id="run-1", path=str(adapter.parent), model_path=str(adapter), method="lora", base_ref="tiny",
                   base_path=str(tiny_model_dir), base_weight_hash="c" * 64, dataset_version="ds0001")
    mv = register_model(spec, ws, fake_dataset(spec, ws), run, fake_eval())
    out = tmp_path / "dist" / "merged"
    row = export_version(ws, resolve(ws, mv.ref), out, merge=True)

    assert row["details"]["merged"] is True and row["details"]["out"] == str(out.resolve())
    assert not (out / "adapter_config.json").exists()
    assert (out / "MODEL_CARD.md").exists() and json.loads((out / "lineage.json").read_text())["run"]["id"] == "run-1"
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        merged = AutoModelForCausalLM.from_pretrained(out)(ids).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        reference = PeftModel.from_pretrained(base, mv.path)(ids).logits
        plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)(ids).logits
    assert torch.allclose(merged, reference, atol=1e-4)
    assert not torch.allclose(merged, plain, atol=1e-4)  # the adapter really changed the weights
    assert audit.rows(ws, action="export")[-1]["subject"] == "support-bot@1"


def test_export_refuses_a_purged_version(tmp_path):
    from test_registry_helpers import fake_run

    from tailorlm.registry import RegistryError, delete_version

    spec = make_spec(tmp_path / "proj", None)
    ws = Workspace.for_spec(spec)
    mv = register_model(spec, ws, fake_dataset(spec, ws), fake_run(ws), fake_eval())
    delete_version(ws, mv.ref, reason="erasure", purge=True)
    with pytest.raises(RegistryError, match="no model files"):
        export_version(ws, resolve(ws, mv.ref, include_deleted=True), tmp_path / "out")
