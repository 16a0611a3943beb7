"""A QLoRA version is loaded as it was trained: on the 4-bit base, adapter kept, nothing merged.

bitsandbytes 4-bit needs CUDA, so on CPU the quantization config is stubbed and ``from_pretrained``
recorded: the test checks what the loader asks for (the QLoRA config, no merge), not bitsandbytes.
The real 4-bit path is ``test_qlora_trains_on_cuda`` (marked ``cuda``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

STUB = object()  # stands for the BitsAndBytesConfig


@pytest.fixture()
def qlora_artifact(tiny_model_dir, tmp_path) -> Path:
    """An adapter folder as a QLoRA run writes it (LoRA weights + provenance saying qlora)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    out = tmp_path / "model"
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    (out / "provenance.json").write_text(json.dumps({"method": "qlora", "base_ref": str(tiny_model_dir),
                                                      "base_path": str(tiny_model_dir)}))
    return out


@pytest.fixture()
def base_loads(monkeypatch):
    """Record every base-model load; drop the stubbed quantization config so the tiny model loads on CPU."""
    from transformers import AutoModelForCausalLM

    from tailorlm.models import quantized

    calls = []
    real = AutoModelForCausalLM.from_pretrained

    def recording(path, *args, **kwargs):
        calls.append(dict(kwargs))
        kwargs.pop("quantization_config", None)
        kwargs.pop("device_map", None)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(quantized, "qlora_quantization_config", lambda: STUB)
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", recording)
    return calls


def test_qlora_is_loaded_on_the_quantized_base_and_not_merged(qlora_artifact, base_loads, monkeypatch):
    from peft import PeftModel

    from tailorlm.models.trained import load_trained

    from peft.tuners.lora import LoraModel

    monkeypatch.setattr(LoraModel, "merge_and_unload", lambda self, *a, **k: pytest.fail("a QLoRA version was merged"))
    loaded = load_trained(str(qlora_artifact), device="cpu", dtype="float32")
    assert [c.get("quantization_config") for c in base_loads] == [STUB]  # the 4-bit config it trained with
    assert base_loads[0]["device_map"] == {"": "cpu"}
    assert isinstance(loaded.model, PeftModel)  # base + adapter, as trained
    assert any("lora_A" in n for n, _ in loaded.model.named_parameters())


def test_qlora_merges_into_an_unquantized_base_only_when_asked(qlora_artifact, base_loads):
    from peft import PeftModel

    from tailorlm.models.trained import load_trained

    loaded = load_trained(str(qlora_artifact), device="cpu", dtype="float32", merge=True)
    assert [c.get("quantization_config") for c in base_loads] == [None]
    assert not isinstance(loaded.model, PeftModel)
    assert not any("lora_A" in n for n, _ in loaded.model.named_parameters())


def test_lora_is_still_merged_by_default(qlora_artifact, base_loads):
    from peft import PeftModel

    from tailorlm.models.trained import load_trained

    prov = qlora_artifact / "provenance.json"
    prov.write_text(json.dumps({**json.loads(prov.read_text()), "method": "lora"}))
    loaded = load_trained(str(qlora_artifact), device="cpu", dtype="float32")
    assert [c.get("quantization_config") for c in base_loads] == [None]
    assert not isinstance(loaded.model, PeftModel)


def _no_cuda_reason() -> str:
    import importlib.util

    if not torch.cuda.is_available():
        return "needs CUDA (bitsandbytes 4-bit)"
    return "" if importlib.util.find_spec("bitsandbytes") else "needs bitsandbytes: pip install 'tailorlm[qlora]'"


@pytest.mark.cuda
@pytest.mark.skipif(bool(_no_cuda_reason()), reason=_no_cuda_reason() or "runs")
def test_qlora_loads_on_a_real_4bit_base_on_cuda(qlora_artifact):  # pragma: no cover - CUDA only
    from peft import PeftModel

    from tailorlm.models.trained import load_trained

    loaded = load_trained(str(qlora_artifact), device="cuda", dtype="bfloat16")
    assert isinstance(loaded.model, PeftModel)
    assert any("4bit" in type(m).__name__ for m in loaded.model.modules())  # the base stayed quantized
