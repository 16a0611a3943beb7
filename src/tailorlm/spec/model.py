"""The ``model:`` section: which base model, on which device, in which dtype."""

from __future__ import annotations

from typing import Literal

from .common import Strict

DEFAULT_BASE = "smollm2-135m-instruct"


class ModelSpec(Strict):
    """The base model.

    Attributes:
        base: an alias (``smollm2-135m-instruct``, the offline default), a Hugging Face id
            (``HuggingFaceTB/SmolLM2-360M-Instruct``) or a local directory.
        device: ``auto`` picks CUDA when present, else CPU.
        dtype: ``auto`` picks bf16 on CUDA, bf16 autocast on a CPU that supports it, else fp32.
        revision: optional hub revision for a Hugging Face id.
        download: let tailorlm fetch ``base`` (and only it) from the Hugging Face hub when it is
            not in the local cache; off by default, so nothing reaches the network.
    """

    base: str = DEFAULT_BASE
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    revision: str | None = None
    download: bool = False
