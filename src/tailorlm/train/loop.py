"""The training recipe, top to bottom: plan batches, step, validate, checkpoint, stop.

Shared by instruction tuning and continued pretraining; it sees only rows of tokenized segments.
It runs single-process or under ``accelerate launch`` (DDP, DeepSpeed ZeRO, FSDP): each process
takes every ``world``-th batch of the same deterministic plan.

Speed on CPU (the default path): bf16 autocast; length-grouped batches (or packed rows) so little
compute goes to padding; and the LM head runs only at positions that predict a labelled token
(``logits_to_keep``): for classification that is a handful of positions out of ~130, which saves
the 49k-wide vocabulary projection and its softmax on all the others.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..spec import TrainSpec
from . import checkpoints as ck
from .collate import Batch, Row, collate, plan_batches
from .monitor import Monitor, TrainingDiverged, check_finite
from .tokenize import IGNORE

log = logging.getLogger(__name__)


@dataclass
class LoopConfig:
    """What the loop needs besides the spec: set by :func:`tailorlm.train.run.run_training`."""

    spec: TrainSpec
    lr: float
    pad_id: int
    packed: bool
    offset: int = 0  # positions the PEFT method prepends (prompt tuning)
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    device: str = "cpu"
    progress: bool = True
    share_prefix: bool = False  # compute the rows' common prompt prefix once per batch (exact)


@dataclass
class LoopResult:
    step: int
    tokens: int
    wall_seconds: float
    train_loss: float
    eval_loss: float | None
    best_eval_loss: float | None
    best_step: int | None
    stopped_early: bool
    history: list[dict] = field(default_factory=list)


def shared_prefix_len(batch: Batch, min_len: int = 16) -> int:
    """Length of the token prefix every row shares and that carries no loss (0 when not worth it).

    For SFT the rows of a batch usually start with the same system prompt (instruction + label list:
    ~100 of ~150 tokens for the support template). Computing it once per batch instead of once per
    row is exact, and it removes most of the work.
    """
    ids, mask = batch.input_ids, batch.attention_mask
    if mask is None or ids.shape[0] < 2:
        return 0
    same = (ids == ids[:1]).all(dim=0) & (mask == 1).all(dim=0)  # (T,)
    n = int(same.long().cumprod(0).sum())
    labelled = (batch.labels != IGNORE).any(dim=0).nonzero()
    if len(labelled):
        n = min(n, int(labelled[0]) - 1)  # every position predicting a label stays in the suffix
    return n if n >= min_len else 0


def _prefix_cache(model, prefix: torch.Tensor, batch_size: int):
    """Run the shared prefix (1, P) once and return its KV cache repeated to the batch (with grads)."""
    from transformers import DynamicCache

    cache = DynamicCache(config=getattr(model, "module", model).config)
    model(input_ids=prefix, past_key_values=cache, use_cache=True, logits_to_keep=1)
    cache.batch_repeat_interleave(batch_size)
    return cache


def forward_loss(model, batch: Batch, offset: int, device: str, share_prefix: bool = False) -> torch.Tensor:
    """Mean cross-entropy over labelled tokens of one batch (logits only where needed).

    Args:
        model: a causal LM (possibly PEFT-wrapped).
        batch: from :func:`~tailorlm.train.collate.collate`.
        offset: positions the method prepends (prompt tuning's virtual tokens).
        device: where the model lives.
        share_prefix: compute a prefix common to all rows once (methods that do not use the KV
            cache or input embeddings themselves: full, LoRA, DoRA, IA3).
    """
    width = batch.input_ids.shape[1]
    keep = batch.keep if batch.keep is not None else torch.arange(width - 1)
    p = shared_prefix_len(batch) if share_prefix else 0
    ids = batch.input_ids.to(device)
    # use_cache=False: no KV cache in training, and transformers only derives the block-diagonal
    # mask of packed rows from position_ids when there is no cache.
    kwargs = {"input_ids": ids, "logits_to_keep": (keep + offset).to(device), "use_cache": False}
    if p:
        kwargs.update(input_ids=ids[:, p:], logits_to_keep=(keep - p).to(device), use_cache=True,
                      past_key_values=_prefix_cache(model, ids[:1, :p], ids.shape[0]),
                      position_ids=torch.arange(p, width, device=device).expand(ids.shape[0], -1))
    if batch.attention_mask is None:
        kwargs["position_ids"] = batch.position_ids.to(device)  # packed: resets define the blocks
    else:
        kwargs["attention_mask"] = batch.attention_mask.to(device)
    logits = model(**kwargs).logits  # (B, K, V)
    targets = batch.labels[:, keep + 1].to(device)  # (B, K): the token each kept position predicts
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE)


@torch.no_grad()
def evaluate(model, rows: Sequence[Row], cfg: LoopConfig, batch_size: int) -> float | None:
    """Token-weighted validation loss over ``rows`` (no dropout, no gradients)."""
    if not rows:
        return None
    was_training = model.training
    model.eval()
    order = sorted(range(len(rows)), key=lambda i: sum(len(s) for s in rows[i]))
    total, count = 0.0, 0
    for s in range(0, len(order), batch_size):
        batch = collate([rows[i] for i in order[s:s + batch_size]], cfg.pad_id, cfg.packed)
        n = int((batch.labels[:, 1:] != IGNORE).sum())
        if n == 0:
            continue
        with cfg.autocast():
            loss = forward_loss(model, batch, cfg.offset, cfg.device, cfg.share_prefix)
        total += float(loss) * n
        count += n
    model.train(was_training)
    return total / count if count else None


def total_steps(spec: TrainSpec, batches_per_epoch: int) -> int:
    if spec.max_steps > 0:
        return spec.max_steps
    return max(1, math.ceil(spec.epochs * batches_per_epoch / spec.grad_accum))


_PLANS: dict[tuple, list[list[int]]] = {}


def _plan_cache(lengths: list[int], spec: TrainSpec, epoch: int) -> list[list[int]]:
    key = (id(lengths), len(lengths), spec.batch_size, spec.seed, epoch, spec.group_by_length)
    if key not in _PLANS:
        _PLANS.clear()
        _PLANS[key] = plan_batches(lengths, spec.batch_size, spec.seed, epoch, spec.group_by_length)
    return _PLANS[key]


def run_loop(model, optimizer, scheduler, train_rows: list[Row], val_rows: list[Row], cfg: LoopConfig,
             run_dir: Path, resume_from: Path | None = None, accelerator=None) -> LoopResult:
    """Train until ``max_steps``/``epochs`` or early stopping; checkpoint and log along the way."""
    spec = cfg.spec
    rank = accelerator.process_index if accelerator else 0
    world = accelerator.num_processes if accelerator else 1
    main = rank == 0
    per_epoch = max(1, math.ceil(len(train_rows) / spec.batch_size) // world)  # batches per process
    n_steps = total_steps(spec, per_epoch)
    ckpt_root = run_dir / "checkpoints"
    ck.clean_staging(ckpt_root) if main else None
    state = {"step": 0, "tokens": 0, "wall_seconds": 0.0, "best_eval_loss": None, "best_step": None,
             "bad_evals": 0, "last_eval_loss": None}
    if resume_from is not None:
        state.update(ck.load_checkpoint(resume_from, model, optimizer, scheduler, accelerator))
        log.info("resumed from %s at step %d", resume_from, state["step"])
    monitor = Monitor(run_dir, resume_step=state["step"], tensorboard=main) if main else None
    # Cached once: the lengths list identity keys the plan cache.
    lengths = [sum(len(s) for s in r) for r in train_rows]
    bar = tqdm(total=n_steps, initial=state["step"], desc="train", unit="step", disable=not (cfg.progress and main))
    model.train()
    stopped_early = False
    recent: list[float] = []
    try:
        while state["step"] < n_steps:
            t0 = time.perf_counter()
            step = state["step"]
            loss_sum, tokens = 0.0, 0
            for m in range(step * spec.grad_accum, (step + 1) * spec.grad_accum):
                epoch, k = divmod(m, per_epoch)
                idx = _plan_cache(lengths, spec, epoch)[k * world + rank]
                batch = collate([train_rows[i] for i in idx], cfg.pad_id, cfg.packed)
                with cfg.autocast():
                    loss = forward_loss(model, batch, cfg.offset, cfg.device, cfg.share_prefix)
                check_finite(float(loss.detach()), step + 1)
                if accelerator is None:
                    (loss / spec.grad_accum).backward()
                elif _is_deepspeed(accelerator):
                    accelerator.backward(loss)  # the engine scales by 1/grad_accum and steps at the boundary
                else:
                    accelerator.backward(loss / spec.grad_accum)
                loss_sum += float(loss.detach()) / spec.grad_accum
                tokens += batch.n_tokens
            params = [p for p in model.parameters() if p.requires_grad]
            if accelerator is not None:
                grad_norm = accelerator.clip_grad_norm_(params, spec.max_grad_norm)
            else:
                grad_norm = torch.nn.utils.clip_grad_norm_(params, spec.max_grad_norm)
            grad_norm = float(grad_norm) if grad_norm is not None else float("nan")  # DeepSpeed clips itself
            if not _is_deepspeed(accelerator):
                check_finite(grad_norm, step + 1, "gradient norm")
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            dt = time.perf_counter() - t0
            state["step"] = step = step + 1
            state["tokens"] += tokens * world
            state["wall_seconds"] += dt
            recent = (recent + [loss_sum])[-max(1, spec.log_every):]
            row = {"step": step, "epoch": round(step * spec.grad_accum / per_epoch, 4),
                   "loss": loss_sum, "lr": lr, "grad_norm": grad_norm, "tokens": state["tokens"],
                   "tokens_per_second": tokens * world / dt if dt > 0 else 0.0}
            if monitor:
                monitor.log(row)
            bar.update(1)
            bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}", tok_s=f"{row['tokens_per_second']:.0f}")
            improved = False
            if step % spec.eval_every == 0 or step == n_steps:
                ev = evaluate(model, val_rows, cfg, spec.batch_size)
                if ev is not None:
                    check_finite(ev, step, "validation loss")
                    state["last_eval_loss"] = ev
                    if monitor:
                        monitor.log({"step": step, "eval_loss": ev})
                    if state["best_eval_loss"] is None or ev < state["best_eval_loss"]:
                        state.update(best_eval_loss=ev, best_step=step, bad_evals=0)
                        improved = True
                    else:
                        state["bad_evals"] += 1
                if monitor:
                    monitor.plot()
            if spec.early_stopping_patience and state["bad_evals"] >= spec.early_stopping_patience:
                stopped_early = True
            # The final step is saved as the run's artifact instead; an improving validation always
            # gets a checkpoint so early stopping can restore the best weights.
            if (step % spec.save_every == 0 or improved) and step < n_steps and not stopped_early:
                _save(ckpt_root, step, model, optimizer, scheduler, state, spec, accelerator)
            if stopped_early:
                log.warning("early stopping at step %d: validation loss did not improve for %d validations",
                            step, spec.early_stopping_patience)
                break
    finally:
        bar.close()
        if monitor:
            monitor.plot()
            monitor.close()
    return LoopResult(
        step=state["step"], tokens=state["tokens"], wall_seconds=state["wall_seconds"],
        train_loss=sum(recent) / len(recent) if recent else float("nan"),
        eval_loss=state["last_eval_loss"], best_eval_loss=state["best_eval_loss"], best_step=state["best_step"],
        stopped_early=stopped_early, history=monitor.rows if monitor else [],
    )


def _is_deepspeed(accelerator) -> bool:
    from accelerate.utils import DistributedType

    return accelerator is not None and accelerator.distributed_type == DistributedType.DEEPSPEED


def _save(ckpt_root, step, model, optimizer, scheduler, state, spec, accelerator) -> None:
    """Checkpoint (weights checked finite first: a NaN checkpoint is never written) and prune."""
    for n, p in model.named_parameters():
        if p.requires_grad and not torch.isfinite(p).all():
            raise TrainingDiverged(f"step {step}: parameter {n} has NaN/Inf values; no checkpoint written. "
                                   "Lower train.learning_rate and restart.")
    ck.save_checkpoint(ckpt_root, step, model, optimizer, scheduler, dict(state), accelerator)
    if accelerator is None or accelerator.is_main_process:
        ck.prune(ckpt_root, spec.keep_checkpoints, state["best_step"])
