"""Writing the trained artifact (reading, loading and merging it back: :mod:`tailorlm.models.trained`).

The artifact folder (``TrainRun.model_path``) holds the adapter in PEFT format
(``adapter_config.json`` + ``adapter_model.safetensors``) or, for full fine-tuning, the full
weights (``config.json`` + ``model.safetensors``); the tokenizer with its chat template; and
``provenance.json`` (method, base model and weight hash, dataset version, code version, resolved
spec, final metrics).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..artifacts import atomic_dir, atomic_write_json, code_version
from ..models.trained import MERGEABLE, merge_and_save, read_provenance  # noqa: F401 (moved there)


def first_non_finite(state_dict: dict[str, Any]) -> str | None:
    """Name of the first floating-point tensor in ``state_dict`` holding NaN or Inf (``None``: all finite)."""
    import torch

    for name, t in state_dict.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all():
            return name
    return None


def save_artifact(model, tokenizer, out: Path, provenance: dict[str, Any], method: str,
                  state_dict: dict[str, Any] | None = None, write_extra: Any = None) -> Path:
    """Save weights (adapter or full), tokenizer + chat template and provenance, atomically.

    Args:
        model: the unwrapped model (a ``PeftModel`` or a transformers model).
        tokenizer: saved next to the weights, with its chat template.
        out: the artifact folder (replaced in one rename when complete).
        provenance: written to ``provenance.json`` (plus code version and method).
        method: ``train.method``.
        state_dict: the full weights when they were gathered from shards
            (``accelerator.get_state_dict`` under FSDP / DeepSpeed ZeRO-3); ``None`` reads ``model``.
        write_extra: called with the staging folder to write more files into the artifact (the retrieved
            examples' rows, :meth:`tailorlm.rag.examples.ExampleIndex.save`).

    Raises:
        TrainingDiverged: a weight is NaN/Inf; nothing is written.
    """
    from .metrics_writer import TrainingDiverged

    # Only trained weights can have diverged: a LoRA run checks its adapter, not the frozen base.
    weights = state_dict if state_dict is not None else {
        n: p for n, p in model.named_parameters() if p.requires_grad}
    bad = first_non_finite(weights)
    if bad is not None:
        raise TrainingDiverged(
            f"{out}: weight {bad} has NaN/Inf values after the last step, so no artifact is saved and the run "
            "is not registered. Lower train.learning_rate (e.g. by 10x), keep train.max_grad_norm at 1.0, "
            "and restart.")
    extra = {} if state_dict is None else {"state_dict": state_dict}
    with atomic_dir(out) as staging:
        model.save_pretrained(staging, safe_serialization=True, **extra)
        tokenizer.save_pretrained(staging)
        atomic_write_json(staging / "provenance.json", {**provenance, "code_version": code_version(), "method": method})
        if "spec" in provenance:
            (staging / "spec.resolved.yaml").write_text(yaml.safe_dump(provenance["spec"], sort_keys=False))
        if write_extra is not None:
            write_extra(staging)
    return out
