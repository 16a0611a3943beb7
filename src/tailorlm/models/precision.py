"""The one precision decision: the weight dtype per device, and whether CPU forward passes run
under bf16 autocast. Training, evaluation, serving and the artifact loader all ask here.

bf16 autocast only pays off where the CPU's bf16 matrix multiply is actually faster than fp32 (AMX,
or AVX512-BF16 with kernels that use it). On the 2-vCPU AVX512-BF16 development machine with
torch 2.13 it is about 2x *slower* (fp32 ~110 GFLOP/s vs bf16 ~60 GFLOP/s on the model's matmul
shapes), so "the CPU has bf16 instructions" is not enough: we time both once per process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from pathlib import Path
from typing import Any

import torch


@functools.lru_cache(maxsize=1)
def cpu_bf16_speedup(m: int = 1024, k: int = 576, n: int = 1536, reps: int = 7) -> float:
    """fp32 time / bf16-autocast time of a (m x k) @ (k x n) matmul, best of ``reps`` each (~0.3 s)."""
    x, w = torch.randn(m, k), torch.randn(n, k)
    best = {"fp32": float("inf"), "bf16": float("inf")}
    for _ in range(reps):  # interleaved, so a burst of load elsewhere hits both
        t = time.perf_counter()
        torch.nn.functional.linear(x, w)
        best["fp32"] = min(best["fp32"], time.perf_counter() - t)
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.nn.functional.linear(x, w)
        best["bf16"] = min(best["bf16"], time.perf_counter() - t)
    return best["fp32"] / best["bf16"]


def bf16_measured_faster() -> bool:
    """A bf16-autocast matmul is measured clearly (>10%) faster than fp32 in this process."""
    return cpu_bf16_speedup() > 1.1


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX)."""
    if os.environ.get("TAILORLM_NO_AUTOCAST"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags for f in ("avx512_bf16", "amx_bf16"))


def select_device(device: str = "auto", dtype: str = "auto") -> tuple[str, torch.dtype, bool]:
    """Choose (device, weight dtype, use_cpu_bf16_autocast).

    CUDA: bf16 weights when supported. CPU: fp32 weights, with bf16 autocast only where the CPU has
    native bf16 instructions *and* a bf16 matmul is measured faster than fp32 in this process (on the
    2-vCPU AVX512-BF16 development machine it is about 2x slower, so autocast stays off there).
    """
    if device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    if dtype != "auto":
        want = getattr(torch, dtype)
        if device == "cpu" and want == torch.bfloat16:
            return device, torch.float32, True
        return device, want, False
    if device == "cuda":
        return device, (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16), False
    if device == "cpu":
        return device, torch.float32, cpu_supports_bf16() and bf16_measured_faster()
    return device, torch.float32, False


def use_cpu_autocast(loaded_autocast: bool, dtype_setting: str) -> bool:
    """Whether forward passes on CPU should run under bf16 autocast.

    Args:
        loaded_autocast: what :func:`select_device` chose (the CPU has native bf16 instructions).
        dtype_setting: ``model.dtype`` from the spec; an explicit ``bfloat16`` is always honoured.
    """
    if not loaded_autocast:
        return False
    if dtype_setting == "bfloat16":
        return True
    return bf16_measured_faster()


def cpu_bf16_autocast() -> Any:
    """A bf16 autocast context for CPU forward passes."""
    return torch.autocast("cpu", dtype=torch.bfloat16)


def for_inference(loaded: Any, mode: str | bool | None = None) -> Any:
    """Prepare ``loaded`` for answering (evaluation, serving): where CPU forward passes would run
    under bf16 autocast (``mode`` auto/None following the model's measured choice, or on), cast the
    weights to bf16 once instead.

    Autocast re-casts every fp32 weight to bf16 on every forward pass: one decoding step of
    SmolLM2-135M at batch 32 spent 115 of its 250 ms in those copies (AMX machine, torch 2.13); with
    bf16 weights the step took 138 ms and the matmuls are the same bf16 ones. Training keeps fp32
    weights under autocast (the optimizer needs them). Idempotent; after a ``load_adapter`` call it
    casts the new adapter too. Quantized (4-bit) models, GPUs and classifier-head versions (one
    forward pass per answer, whose label probabilities bf16 logits coarsen: a tiny 4-label test
    model fell from >= 0.75 to 0.67 accuracy on its 12 test rows) are left as they are."""
    if not str(getattr(loaded, "device", "")).startswith("cpu") or mode in ("off", False):
        return loaded
    from .classifier_head import is_classifier

    if is_classifier(loaded.model):
        return loaded
    if getattr(loaded, "inference_bf16", False):
        wanted = True  # already chosen: cast what was added since (a new adapter)
    elif mode in ("on", True):
        wanted = True
    else:  # auto: only where bf16 is measured faster than fp32 in this process
        wanted = use_cpu_autocast(bool(getattr(loaded, "autocast_bf16", False)), "auto")
    if not wanted:
        return loaded
    if getattr(loaded.model, "is_loaded_in_4bit", False) or getattr(loaded.model, "is_quantized", False):
        return loaded
    loaded.model.to(torch.bfloat16)
    loaded.autocast_bf16 = False  # the weights are bf16 now: plain forward passes
    loaded.inference_bf16 = True
    return loaded


def autocast_context(loaded: Any, mode: str | bool | None = None) -> Any:
    """The forward-pass context: ``None``/"auto" follows the loaded model, ``on``/True forces bf16
    autocast on CPU, ``off``/False runs in the weights' dtype."""
    if mode in (None, "auto"):
        return loaded.autocast()
    if mode in ("on", True) and str(loaded.device).startswith("cpu"):
        return cpu_bf16_autocast()
    return contextlib.nullcontext()
