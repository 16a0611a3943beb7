"""``bench/serve_load.py --setup-default``'s setup on the tiny model: a support project, four LoRA
versions registered as real ones (servable as adapters on one shared base, each different), and
version 1 exported merged (a plain transformers folder for the peer server); a second run reuses it."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_the_bench_setup_registers_four_lora_versions_and_a_merged_export(tmp_path, tiny_model_dir):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    sys.path.insert(0, str(BENCH))
    try:
        from serve_setup import setup_default
    finally:
        sys.path.remove(str(BENCH))
    from tailorlm.cli.common import load, workspace
    from tailorlm.registry.versions import list_versions, resolve
    from tailorlm.serve.adapters import is_poolable

    s = setup_default(tmp_path / "bench", versions=4, messages=200, base=str(tiny_model_dir))
    assert s.versions == [f"{s.name}@{k}" for k in range(1, 5)]
    ws = workspace(load(s.project / "tailor.yaml", check_files=False))
    paths = [Path(resolve(ws, v).path) for v in s.versions]
    assert all(is_poolable(str(p)) for p in paths)  # the server mixes them as adapters on one base
    weights = [load_file(p / "adapter_model.safetensors") for p in paths]
    some_b = next(k for k in weights[0] if "lora_B" in k)
    assert all(not torch.equal(weights[0][some_b], w[some_b]) for w in weights[1:])  # four different versions
    assert not (s.merged / "adapter_config.json").exists()
    AutoModelForCausalLM.from_pretrained(s.merged)  # loads without PEFT: what the peer serves
    again = setup_default(tmp_path / "bench", versions=4, messages=200, base=str(tiny_model_dir))
    assert again.versions == s.versions and len(list_versions(ws, s.name)) == 4  # reused, nothing added
