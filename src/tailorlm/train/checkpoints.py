"""Atomic, exactly-resumable checkpoints: ``runs/<id>/checkpoints/step-000050/``.

A checkpoint holds everything the next step depends on:

* ``trainable.pt``: the trainable parameters only (the adapter for PEFT methods, every weight for
  full fine-tuning); the frozen base is reloaded from the base model;
* ``optimizer.pt`` and ``scheduler.pt``: their ``state_dict``;
* ``rng.pt``: torch (CPU and CUDA) and Python RNG states, so dropout masks continue identically;
* ``state.json``: step, epoch, position in the epoch's batch plan, tokens, best validation loss...

Under DeepSpeed or FSDP (sharded optimizer state) ``accelerate``'s ``save_state``/``load_state``
write the model and optimizer parts instead of ``trainable.pt``/``optimizer.pt``.

It is written into ``.staging-step-N`` and renamed into place only when complete, so a kill during
the write leaves the previous checkpoints intact and no half checkpoint is ever loaded. Only the
last ``keep`` checkpoints and the best one (lowest validation loss) are kept.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from ..artifacts import atomic_write_json

_NAME = re.compile(r"^step-(\d+)$")


def trainable_state(model) -> dict[str, torch.Tensor]:
    """The parameters that train (names as in ``model.named_parameters()``), cloned to CPU."""
    return {n: p.detach().to("cpu").clone() for n, p in model.named_parameters() if p.requires_grad}


def rng_state() -> dict[str, Any]:
    out: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def is_sharded(accelerator) -> bool:
    """DeepSpeed or FSDP: optimizer state (and for ZeRO-3/FSDP the weights) split across processes."""
    from accelerate.utils import DistributedType

    return accelerator is not None and accelerator.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)


def params_sharded(accelerator) -> bool:
    """FSDP or DeepSpeed ZeRO-3: each process holds only a shard of every weight."""
    from accelerate.utils import DistributedType

    if accelerator is None:
        return False
    if accelerator.distributed_type == DistributedType.FSDP:
        return True
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    return accelerator.distributed_type == DistributedType.DEEPSPEED and plugin is not None and plugin.zero_stage == 3



def save_checkpoint(ckpt_root: Path, step: int, model, optimizer, scheduler, state: dict[str, Any], accelerator=None) -> Path:
    """Write checkpoint ``step`` atomically and return its folder.

    Every process must call this under DeepSpeed/FSDP; otherwise only the main process writes.
    """
    final = ckpt_root / f"step-{step:06d}"
    staging = ckpt_root / f".staging-step-{step:06d}"  # same path on every rank
    main = accelerator is None or accelerator.is_main_process
    if main:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    if accelerator is not None:
        accelerator.wait_for_everyone()
    if is_sharded(accelerator):
        accelerator.save_state(str(staging))
    elif main:
        torch.save(trainable_state(accelerator.unwrap_model(model) if accelerator else model), staging / "trainable.pt")
        torch.save(optimizer.state_dict(), staging / "optimizer.pt")
    if main:
        torch.save(scheduler.state_dict(), staging / "scheduler.pt")
        torch.save(rng_state(), staging / "rng.pt")
        atomic_write_json(staging / "state.json", state)
        _fsync_dir(staging)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    if accelerator is not None:
        accelerator.wait_for_everyone()
    return final


def _fsync_dir(path: Path) -> None:
    for p in path.iterdir():
        with open(p, "rb") as f:
            os.fsync(f.fileno())


def load_checkpoint(path: Path, model, optimizer, scheduler, accelerator=None) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and RNG state from ``path``; returns ``state.json``."""
    if is_sharded(accelerator):
        accelerator.load_state(str(path))
    else:
        target = accelerator.unwrap_model(model) if accelerator else model
        weights = torch.load(path / "trainable.pt", map_location="cpu", weights_only=True)
        params = dict(target.named_parameters())
        missing = [n for n in weights if n not in params]
        if missing:
            raise RuntimeError(
                f"{path}: checkpoint has parameters the model lacks ({missing[:3]}...); it was written "
                "for a different method or base model. Start a new run instead of --resume."
            )
        with torch.no_grad():
            for n, t in weights.items():
                params[n].copy_(t)
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    set_rng_state(torch.load(path / "rng.pt", weights_only=False))
    return json.loads((path / "state.json").read_text())


def read_state(path: Path) -> dict[str, Any]:
    """A checkpoint's ``state.json`` (step, tokens, precision, ...) without loading any tensor."""
    return json.loads((path / "state.json").read_text())


def list_checkpoints(ckpt_root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints, oldest first (staging folders are ignored)."""
    if not ckpt_root.exists():
        return []
    found = [(int(m.group(1)), p) for p in ckpt_root.iterdir() if (m := _NAME.match(p.name)) and (p / "state.json").exists()]
    return sorted(found)


def latest_checkpoint(ckpt_root: Path) -> Path | None:
    found = list_checkpoints(ckpt_root)
    return found[-1][1] if found else None


def prune(ckpt_root: Path, keep: int, best_step: int | None) -> list[Path]:
    """Delete all but the last ``keep`` checkpoints and the best one; also stale staging folders."""
    found = list_checkpoints(ckpt_root)
    keep_steps = {s for s, _ in found[-keep:]}
    if best_step is not None:
        keep_steps.add(best_step)
    removed = []
    for step, p in found:
        if step not in keep_steps:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def clean_staging(ckpt_root: Path) -> None:
    """Remove half-written checkpoints left by a killed run."""
    if ckpt_root.exists():
        for p in ckpt_root.glob(".staging-*"):
            shutil.rmtree(p, ignore_errors=True)
