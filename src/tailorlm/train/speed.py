"""Measured speed decisions for the CPU training path.

bf16 autocast only pays off where the CPU's bf16 matrix multiply is actually faster than fp32 (AMX,
or AVX512-BF16 with kernels that use it). On the 2-vCPU AVX512-BF16 development machine with
torch 2.13 it is about 2x *slower* (fp32 ~110 GFLOP/s vs bf16 ~60 GFLOP/s on the model's matmul
shapes), so "the CPU has bf16 instructions" is not enough: we time both once per process.
"""

from __future__ import annotations

import functools
import time

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


def use_cpu_autocast(loaded_autocast: bool, dtype_setting: str) -> bool:
    """Whether training on CPU should run under bf16 autocast.

    Args:
        loaded_autocast: what the model loader chose (the CPU has native bf16 instructions).
        dtype_setting: ``model.dtype`` from the spec; an explicit ``bfloat16`` is always honoured.
    """
    if not loaded_autocast:
        return False
    if dtype_setting == "bfloat16":
        return True
    return cpu_bf16_speedup() > 1.1
