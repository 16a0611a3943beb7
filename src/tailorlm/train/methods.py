"""Adaptation methods: one small function per method, returning its PEFT config (``None`` = full).

``METHODS[name](train_spec, task_type)`` builds the config (``CAUSAL_LM``, or ``SEQ_CLS`` for the
classifier head: PEFT then trains and saves the ``score`` layer in full); :func:`apply_method`
wraps the model.
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


def lora(spec: TrainSpec, task_type: str = "CAUSAL_LM"):
    from peft import LoraConfig

    return LoraConfig(
        task_type=task_type,
        r=spec.lora.r,
        lora_alpha=spec.lora.alpha,
        lora_dropout=spec.lora.dropout,
        target_modules=spec.lora.target_modules,  # "all-linear" is resolved by PEFT
    )


def dora(spec: TrainSpec, task_type: str = "CAUSAL_LM"):
    cfg = lora(spec, task_type)
    cfg.use_dora = True
    return cfg


def qlora(spec: TrainSpec, task_type: str = "CAUSAL_LM"):
    return lora(spec, task_type)  # the 4-bit part is in how the base is loaded (see load_for_method)


def prefix(spec: TrainSpec, task_type: str = "CAUSAL_LM"):
    from peft import PrefixTuningConfig

    return PrefixTuningConfig(task_type=task_type, num_virtual_tokens=spec.num_virtual_tokens)


def prompt(spec: TrainSpec, task_type: str = "CAUSAL_LM"):
    from peft import PromptTuningConfig, PromptTuningInit

    return PromptTuningConfig(
        task_type=task_type,
        num_virtual_tokens=spec.num_virtual_tokens,
        prompt_tuning_init=PromptTuningInit.RANDOM,
    )


def ia3(spec: TrainSpec, task_type: str = "CAUSAL_LM"):
    from peft import IA3Config

    # target_modules=None lets PEFT pick its per-architecture defaults (k, v and the MLP down
    # projection for Llama), with the matching feed-forward modules.
    targets = spec.lora.target_modules
    if targets == "all-linear":
        return IA3Config(task_type=task_type)
    return IA3Config(task_type=task_type, target_modules=targets, feedforward_modules=[])


def full(spec: TrainSpec, task_type: str = "CAUSAL_LM"):
    return None


METHODS: dict[str, Callable[..., object]] = {
    "full": full,
    "lora": lora,
    "dora": dora,
    "qlora": qlora,
    "prefix": prefix,
    "prompt": prompt,
    "ia3": ia3,
}


# The classifier head's new ``score`` layer starts from random weights and learns at the adapter's
# rate. Measured on the 72-label bench workload (docs/benchmarks.md): at 60 steps on a 1,200-message
# sample 5e-3 looked better than 1e-3 (0.487 vs 0.230 accuracy), but over the full epoch (338 steps)
# 5e-3 stayed at chance loss (4.4 at step 90; ln 72 = 4.28) while 1e-3 reached 0.886 accuracy, and
# 0.963 on the example project in 100 steps. So 1e-3.
CLASSIFIER_LR: dict[str, float] = {**DEFAULT_LR, "lora": 1e-3, "dora": 1e-3, "qlora": 1e-3}
# A time-budgeted run (train.max_minutes; 15 minutes by default on CPU) trains tens of steps, not
# hundreds: the LoRA family starts from the classifier head's rate instead (docs/training.md).
BUDGET_LR: dict[str, float] = {**DEFAULT_LR, "lora": 1e-3, "dora": 1e-3}


def learning_rate(spec: TrainSpec, head: str = "lm", budgeted: bool = False) -> float:
    """``train.learning_rate``, else the default of the method (and head; ``budgeted``: the run has a
    time budget, so it takes the higher :data:`BUDGET_LR`)."""
    if spec.learning_rate:
        return spec.learning_rate
    if head == "classifier":
        return CLASSIFIER_LR[spec.method]
    return (BUDGET_LR if budgeted else DEFAULT_LR)[spec.method]


def virtual_token_offset(spec: TrainSpec) -> int:
    """Positions prepended to the hidden states by the method (prompt tuning prepends embeddings)."""
    return spec.num_virtual_tokens if spec.method == "prompt" else 0


def apply_method(model, spec: TrainSpec, task_type: str = "CAUSAL_LM"):
    """Wrap ``model`` for training with the spec's method; returns the model to optimize.

    Full fine-tuning trains every parameter; PEFT methods freeze the base and add their modules.
    ``task_type`` is ``SEQ_CLS`` for the classifier head.
    """
    cfg = METHODS[spec.method](spec, task_type)
    if cfg is None:
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import get_peft_model

    if spec.method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, cfg)


def load_for_method(spec, resolved_path: str, device: str, torch_dtype, model_cls=None, **kwargs):
    """Load the base weights the way the method needs (QLoRA: 4-bit NF4 via bitsandbytes, CUDA only)."""
    from ..models.quantized import load_quantized_base

    return load_quantized_base(resolved_path, device, torch_dtype, model_cls, **kwargs)
