"""The ``train:`` section: method and hyperparameters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import Strict

Method = Literal["full", "lora", "dora", "qlora", "prefix", "prompt", "ia3"]


class LoraSpec(Strict):
    r: int = Field(default=16, ge=1)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: str | list[str] = "all-linear"


class TrainSpec(Strict):
    """How the base model is adapted.

    Attributes:
        method: ``lora`` (default), ``dora``, ``qlora`` (CUDA only), ``full``, ``prefix``,
            ``prompt`` or ``ia3``.
        max_steps: stop after this many optimizer steps (wins over ``epochs`` when > 0).
        batch_size: examples per device step; ``grad_accum`` steps make one optimizer step.
    """

    method: Method = "lora"
    lora: LoraSpec = LoraSpec()
    num_virtual_tokens: int = Field(default=20, ge=1, description="prefix/prompt tuning")
    learning_rate: float | None = Field(default=None, gt=0, description="default per method")
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(default=0.05, ge=0.0, lt=1.0)
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int = Field(default=0, ge=0)
    batch_size: int = Field(default=16, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    weight_decay: float = Field(default=0.0, ge=0.0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    packing: bool = False
    seed: int = 0
    eval_every: int = Field(default=50, ge=1, description="validation every N optimizer steps")
    save_every: int = Field(default=50, ge=1, description="checkpoint every N optimizer steps")
    keep_checkpoints: int = Field(default=2, ge=1)
    early_stopping_patience: int = Field(default=0, ge=0, description="0 disables")
    log_every: int = Field(default=5, ge=1)
