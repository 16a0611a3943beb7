"""Adaptation methods: one small function per method, returning its PEFT config (``None`` = full).

``METHODS[name](train_spec, task_type)`` builds the config; :func:`apply_method` wraps the model.
Default learning rates per method live in :data:`DEFAULT_LR` (used when ``train.learning_rate`` is
not set).
"""

from __future__ import annotations

from typing import Callable

from ..spec import TrainSpec

DEFAULT_LR: dict[str, float] = {
    "full": 2e-5,
    "lora": 3e-4,
    "dora": 3e-4,
    "qlora": 2e-4,
    "prefix": 1e-2,
    "prompt": 3e-2,
    "ia3": 3e-3,
}


def lora(spec: TrainSpec):
    from peft import LoraConfig, TaskType

    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=spec.lora.r,
        lora_alpha=spec.lora.alpha,
        lora_dropout=spec.lora.dropout,
        target_modules=spec.lora.target_modules,  # "all-linear" is resolved by PEFT
    )


def dora(spec: TrainSpec):
    cfg = lora(spec)
    cfg.use_dora = True
    return cfg


def qlora(spec: TrainSpec):
    return lora(spec)  # the 4-bit part is in how the base is loaded (see load_for_method)


def prefix(spec: TrainSpec):
    from peft import PrefixTuningConfig, TaskType

    return PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=spec.num_virtual_tokens)


def prompt(spec: TrainSpec):
    from peft import PromptTuningConfig, PromptTuningInit, TaskType

    return PromptTuningConfig(
        task_type=TaskType.CAUSAL_LM,
        num_virtual_tokens=spec.num_virtual_tokens,
        prompt_tuning_init=PromptTuningInit.RANDOM,
    )


def ia3(spec: TrainSpec):
    from peft import IA3Config, TaskType

    # target_modules=None lets PEFT pick its per-architecture defaults (k, v and the MLP down
    # projection for Llama), with the matching feed-forward modules.
    targets = spec.lora.target_modules
    if targets == "all-linear":
        return IA3Config(task_type=TaskType.CAUSAL_LM)
    return IA3Config(task_type=TaskType.CAUSAL_LM, target_modules=targets, feedforward_modules=[])


def full(spec: TrainSpec):
    return None


METHODS: dict[str, Callable[[TrainSpec], object]] = {
    "full": full,
    "lora": lora,
    "dora": dora,
    "qlora": qlora,
    "prefix": prefix,
    "prompt": prompt,
    "ia3": ia3,
}


def learning_rate(spec: TrainSpec) -> float:
    return spec.learning_rate or DEFAULT_LR[spec.method]


def virtual_token_offset(spec: TrainSpec) -> int:
    """Positions prepended to the hidden states by the method (prompt tuning prepends embeddings)."""
    return spec.num_virtual_tokens if spec.method == "prompt" else 0


def apply_method(model, spec: TrainSpec):
    """Wrap ``model`` for training with the spec's method; returns the model to optimize.

    Full fine-tuning trains every parameter; PEFT methods freeze the base and add their modules.
    """
    cfg = METHODS[spec.method](spec)
    if cfg is None:
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import get_peft_model

    if spec.method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, cfg)


def qlora_quantization_config():
    """The 4-bit NF4 config QLoRA trains on (bitsandbytes, CUDA only); evaluation and serving reuse it."""
    from transformers import BitsAndBytesConfig

    import torch

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16,
    )


def load_quantized_base(resolved_path: str, device: str, torch_dtype):
    """The base model in 4 bits, as QLoRA trains on it (and as a QLoRA version is evaluated and served)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        resolved_path, quantization_config=qlora_quantization_config(), dtype=torch_dtype, device_map={"": device}
    )


def load_for_method(spec, resolved_path: str, device: str, torch_dtype):
    """Load the base weights the way the method needs (QLoRA: 4-bit NF4 via bitsandbytes, CUDA only)."""
    return load_quantized_base(resolved_path, device, torch_dtype)
