"""Models for the engine tests: a tiny Llama whose greedy answers vary (not one repeated token),
and random LoRA versions of it, so "the same answer" compares real, different texts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any


def build_lively_llama(out: Path) -> Path:
    """The conftest tiny Llama with every weight redrawn from N(0, 0.5): its greedy answers vary."""
    import torch
    from conftest import build_tiny_llama
    from transformers import AutoModelForCausalLM

    build_tiny_llama(out)
    torch.manual_seed(7)
    model = AutoModelForCausalLM.from_pretrained(out)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    model.save_pretrained(out, safe_serialization=True)
    return out


def build_lora_version(base_dir: Path, out: Path, seed: int, **lora: Any) -> Path:
    """A LoRA adapter (random, non-zero) on ``base_dir``, saved as a training artifact with provenance;
    ``lora``: LoraConfig fields other than the default r 4, alpha 8 on q_proj and v_proj."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir),
                           LoraConfig(**{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"],
                                                   "init_lora_weights": False, **lora}))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.normal_(0.0, 0.5)
    model.save_pretrained(out)
    for f in base_dir.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens", "chat_template")):
            shutil.copy(f, out / f.name)
    (out / "provenance.json").write_text(json.dumps({"method": "lora", "base_ref": "tiny",
                                                     "base_path": str(base_dir)}))
    return out
