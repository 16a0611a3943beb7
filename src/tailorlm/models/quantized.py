"""The 4-bit base model QLoRA trains on, shared by training, evaluation and serving (bitsandbytes, CUDA only)."""

from __future__ import annotations


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


def load_quantized_base(resolved_path: str, device: str, torch_dtype, model_cls=None, **kwargs):
    """The base model in 4 bits, as QLoRA trains on it (and as a QLoRA version is evaluated and served).

    ``model_cls`` defaults to ``AutoModelForCausalLM`` (the classifier head passes
    ``AutoModelForSequenceClassification`` and its ``num_labels``... in ``kwargs``).
    """
    from transformers import AutoModelForCausalLM

    return (model_cls or AutoModelForCausalLM).from_pretrained(
        resolved_path, quantization_config=qlora_quantization_config(), dtype=torch_dtype, device_map={"": device},
        **kwargs
    )
