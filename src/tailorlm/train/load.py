"""``load_trained``: a training artifact back in memory, ready for inference."""

from __future__ import annotations

from pathlib import Path

from ..models.loader import LoadedModel, ResolvedBase, load_tokenizer, resolve_base, select_device
from .export import read_provenance


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
        from .classifier import classifier_kwargs

        auto = AutoModelForSequenceClassification
    dev, torch_dtype, autocast = select_device(device, dtype)
    if autocast:
        from .speed import use_cpu_autocast

        autocast = use_cpu_autocast(autocast, dtype)  # only where bf16 is measured faster than fp32
    tokenizer = load_tokenizer(str(path))
    if auto is AutoModelForSequenceClassification:
        kwargs = classifier_kwargs(prov["prompt_recipe"]["labels"], tokenizer.pad_token_id)
    quantized = prov.get("method") == "qlora" and not merge
    merge = prov.get("method") != "qlora" if merge is None else merge
    if (path / "adapter_config.json").exists():
        from peft import PeftModel

        if quantized:
            from .methods import load_quantized_base

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
