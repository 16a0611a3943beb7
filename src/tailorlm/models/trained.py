"""Trained artifacts back in memory: ``load_trained``, ``read_provenance``, ``merge_and_save``.

The artifact folder (``TrainRun.model_path``, written by :func:`tailorlm.train.export.save_artifact`)
holds the adapter in PEFT format or the full weights, the tokenizer with its chat template, and
``provenance.json``. Evaluation, the registry and the server load artifacts through this module,
so none of them imports the train stage.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Sequence

from ..artifacts import RETRIEVAL_EXAMPLES, RETRIEVAL_VECTORS, atomic_dir, atomic_write_json, code_version
from .loader import LoadedModel, ResolvedBase, load_tokenizer, resolve_base
from .precision import select_device, use_cpu_autocast

MERGEABLE = {"full", "lora", "dora", "qlora", "ia3"}


def read_provenance(model_path: str | Path) -> dict[str, Any]:
    """``provenance.json`` of a training artifact folder (method, base, dataset, prompt recipe...)."""
    p = Path(model_path) / "provenance.json"
    if not p.exists():
        raise FileNotFoundError(f"{p}: missing; {model_path} is not a tailorlm training artifact "
                                "(expected the folder of TrainRun.model_path).")
    return json.loads(p.read_text())


def classifier_kwargs(labels: Sequence[str], pad_token_id: int) -> dict[str, Any]:
    """``from_pretrained`` arguments that size a classifier head and name its outputs."""
    return {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
            "label2id": {lab: i for i, lab in enumerate(labels)}, "pad_token_id": pad_token_id}


def _base_path(prov: dict) -> str:
    path = prov.get("base_path", "")
    if path and Path(path).exists():
        return path
    return resolve_base(prov["base_ref"]).path  # e.g. the safetensors cache moved: resolve again


def load_trained(model_path: str, device: str = "auto", dtype: str = "auto", merge: bool | None = None) -> LoadedModel:
    """Load base + adapter (or the full fine-tuned weights) from a training artifact folder.

    A QLoRA adapter is loaded on the 4-bit base it was trained on (the same quantization config)
    and kept unmerged, so it is evaluated and served as trained; merging it into an unquantized
    base gives a different model, so that happens only when ``merge=True`` is asked for.

    Args:
        model_path: ``TrainRun.model_path`` (has ``provenance.json``).
        device / dtype: as in ``model.device`` / ``model.dtype`` of the spec (``auto`` picks).
        merge: fold LoRA/DoRA/IA3 adapters into the base weights (faster inference, same outputs);
            ``False`` keeps a ``PeftModel`` (e.g. to switch adapters). ``None`` (default): merge,
            except QLoRA.

    Returns:
        A :class:`~tailorlm.models.loader.LoadedModel` in eval mode; use ``loaded.autocast()`` around
        forward passes.
    """
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from .. import offline

    offline.enforce()  # a trained artifact is always local: nothing to fetch
    path = Path(model_path)
    prov = read_provenance(path)
    kwargs: dict = {}
    auto = AutoModelForCausalLM
    if prov.get("head") == "classifier":  # a label head: logits over prov["prompt_recipe"]["labels"]
        auto = AutoModelForSequenceClassification
    dev, torch_dtype, autocast = select_device(device, dtype)
    autocast = use_cpu_autocast(autocast, dtype)  # only where bf16 is measured faster than fp32
    tokenizer = load_tokenizer(str(path))
    if auto is AutoModelForSequenceClassification:
        kwargs = classifier_kwargs(prov["prompt_recipe"]["labels"], tokenizer.pad_token_id)
    quantized = prov.get("method") == "qlora" and not merge
    merge = prov.get("method") != "qlora" if merge is None else merge
    if (path / "adapter_config.json").exists():
        from peft import PeftModel

        if quantized:
            from .quantized import load_quantized_base

            base = load_quantized_base(_base_path(prov), dev, torch_dtype, auto, **kwargs)  # placed by device_map
        else:
            base = auto.from_pretrained(_base_path(prov), dtype=torch_dtype, **kwargs)
        model = PeftModel.from_pretrained(base, str(path))
        if merge and prov.get("method") not in ("prefix", "prompt"):
            model = model.merge_and_unload()
    else:
        model = auto.from_pretrained(str(path), dtype=torch_dtype)
    (model if quantized else model.to(dev)).eval()
    resolved = ResolvedBase(ref=prov.get("base_ref", ""), path=prov.get("base_path", ""),
                            weight_hash=prov.get("base_weight_hash", ""))
    return LoadedModel(model=model, tokenizer=tokenizer, device=dev, autocast_bf16=autocast, resolved=resolved)


def merge_and_save(model_path: str, out_dir: str, *, force: bool = False, protect: tuple = ()) -> str:
    """Merge the adapter at ``model_path`` into its base and write plain safetensors to ``out_dir``.

    The result loads with ``AutoModelForCausalLM.from_pretrained(out_dir)`` (no PEFT needed) and gives
    the same outputs as base + adapter (up to float rounding). Prefix and prompt tuning cannot be merged
    (their virtual tokens are not weights of the base); they raise ``ValueError``.

    Returns:
        ``out_dir``.
    """
    prov = read_provenance(model_path)
    method = prov.get("method", "lora")
    if method not in MERGEABLE:
        raise ValueError(f"{model_path}: method '{method}' adds virtual tokens that cannot be merged into "
                         "the base weights; serve it as an adapter (base + PEFT) instead.")
    loaded = load_trained(model_path, device="cpu", dtype="float32", merge=True)
    model = loaded.model
    with atomic_dir(out_dir, force=force, protect=protect) as staging:
        model.save_pretrained(staging, safe_serialization=True)
        loaded.tokenizer.save_pretrained(staging)
        atomic_write_json(staging / "provenance.json",
                          {**prov, "merged_from": str(model_path), "merged": True, "code_version": code_version()})
        for name in (RETRIEVAL_EXAMPLES, RETRIEVAL_VECTORS):  # the prompt recipe's retrieved examples go with it
            if (Path(model_path) / name).exists():
                shutil.copy2(Path(model_path) / name, staging / name)
    return str(out_dir)
