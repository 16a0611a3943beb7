"""Spec-time checks of the ``train:`` section against the base model's config (no weights loaded).

Each function takes ``(spec, check_files)`` and returns problem strings, like the checks in
``tailorlm.spec.checks`` (which adds them to its ``CHECKS`` list). The config is read from a local
model folder, the alias's safetensors cache or the Hugging Face cache, never the network; when
none is on disk these checks are skipped (nothing is downloaded to run them).
"""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..spec import TailorSpec


def _alias_cache_config(ref: str) -> Path | None:
    """config.json of an alias's safetensors cache (``$TAILORLM_CACHE/models/<alias>-<gguf hash>/``), if built.

    Mirrors :func:`tailorlm.models.loader.cache_root` without importing it (that module imports torch,
    which would add ~1.5 s to every ``spec check``); a test keeps the two in step. The folder name
    carries the GGUF's hash; any cached version of the alias has the same architecture, so the newest
    one is read.
    """
    root = Path(os.environ.get("TAILORLM_CACHE", Path.home() / ".cache" / "tailorlm")) / "models"
    found = sorted(root.glob(f"{glob.escape(ref)}-*/config.json"), key=lambda f: f.stat().st_mtime)
    return found[-1] if found else None


def _hub_config(repo_id: str, revision: str | None) -> dict | None:
    """The config of a Hugging Face id from the local HF cache only (never the network); ``None`` if not cached."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(repo_id, revision=revision, local_files_only=True).to_dict()
    except (OSError, ValueError, KeyError):  # not cached, not a valid id, or an unknown model_type
        return None


def local_base_dir(spec: "TailorSpec") -> Path | None:
    """``model.base`` as a local folder (relative to tailor.yaml), or None for an alias / hub id."""
    p = Path(spec.model.base).expanduser()
    p = p if p.is_absolute() else spec.root / p
    return p if p.is_dir() else None


def _base_config(spec: "TailorSpec") -> dict | None:
    """The base model's config without loading weights; ``None`` when nothing is on disk (checked at load).

    A local folder: its config.json. An alias (the default ``smollm2-135m-instruct``): the config.json
    of its safetensors cache, once the first load has built it. A Hugging Face id: its config from
    the HF cache, when cached.
    """
    ref = spec.model.base
    p = local_base_dir(spec)
    if p is not None:
        cfg = p / "config.json"
        return json.loads(cfg.read_text()) if cfg.exists() else None
    if "/" not in ref:
        cached = _alias_cache_config(ref)
        return json.loads(cached.read_text()) if cached else None
    return _hub_config(ref, spec.model.revision)


def check_train_model(spec: "TailorSpec", check_files: bool) -> list[str]:
    """Method and sequence length against the model architecture."""
    cfg = _base_config(spec) if check_files else None
    if cfg is None:
        return []
    out = []
    t = spec.train
    max_pos = cfg.get("max_position_embeddings")
    budget = spec.data.max_seq_len
    if max_pos and budget > max_pos:
        out.append(f"data.max_seq_len: {budget} exceeds the base model's max_position_embeddings "
                   f"({max_pos}). Set data.max_seq_len to {max_pos} or less.")
    model_type = cfg.get("model_type", "")
    if t.method == "ia3" and t.lora.target_modules == "all-linear":
        from peft.utils import TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING as IA3

        if model_type not in IA3:
            out.append(f"train.method: ia3 has no default target modules for model type '{model_type}'. "
                       "List them in train.lora.target_modules (e.g. [k_proj, v_proj, down_proj]).")
    if t.method in ("prefix", "prompt") and cfg.get("is_encoder_decoder"):
        out.append(f"train.method: {t.method} tuning is set up for decoder-only models here; "
                   "use lora for an encoder-decoder base.")
    return out


def check_train_steps(spec: "TailorSpec", check_files: bool) -> list[str]:
    """Checkpoint/validation cadence that can never happen is almost always a typo."""
    t = spec.train
    out = []
    if t.max_steps and t.save_every > t.max_steps and t.early_stopping_patience:
        out.append(f"train.save_every: {t.save_every} > max_steps {t.max_steps}, so early stopping has no "
                   "checkpoint to fall back on. Lower save_every or eval_every.")
    if t.early_stopping_patience and t.max_steps and t.eval_every * (t.early_stopping_patience + 1) > t.max_steps:
        out.append(f"train.early_stopping_patience: {t.early_stopping_patience} validations every "
                   f"{t.eval_every} steps cannot trigger within max_steps {t.max_steps}. Lower eval_every.")
    return out


def check_train_head(spec: "TailorSpec", check_files: bool) -> list[str]:
    """``train.head: classifier`` needs a classification task and a method that keeps the inputs as they are."""
    from ..spec.train import CLASSIFIER_METHODS  # not from .classifier: that imports torch (seconds per spec check)

    t, out = spec.train, []
    if t.head != "classifier":
        return out
    if spec.objective.task != "classification":
        out.append(f"train.head: classifier needs objective.task: classification (it is {spec.objective.task}). "
                   "Use head: lm (or auto).")
    if t.method not in CLASSIFIER_METHODS:
        out.append(f"train.head: classifier cannot sit on method '{t.method}' (its virtual tokens shift the "
                   f"position the head reads). Use one of {', '.join(CLASSIFIER_METHODS)}, or head: lm.")
    if "fine_tuned_rag" in spec.eval.systems:
        out.append("eval.systems: fine_tuned_rag is not offered for a classifier-head version (the head reads the "
                   "message alone). Remove it, or set train.head: lm.")
    return out


CHECKS = [check_train_model, check_train_steps, check_train_head]
