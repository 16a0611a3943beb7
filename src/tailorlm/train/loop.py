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

from ..models.compat import cache_kwargs
from ..spec import TrainSpec
from ..spec.train import time_budget
from . import checkpoints as ck
from .collate import Batch, Row, collate, plan_batches
from .metrics_writer import MetricsWriter, TrainingDiverged, check_finite
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
    # How the forward passes run ({"autocast_bf16": bool, "dtype": str}); saved in every checkpoint
    # so a resume reuses it instead of re-measuring (a different choice would change the weights).
    precision: dict = field(default_factory=dict)
    select_logits: bool = False  # LM head per row only where a label is predicted (exact where checked)
    # A fresh LR schedule over N steps (``train.max_minutes`` re-plans the run with it).
    make_scheduler: Callable[[int], object] | None = None


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
    resumed_from_step: int | None = None  # the checkpoint's step when the run was resumed
    planned_steps: int | None = None  # steps the data and epochs asked for, when the time budget cut them


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
    model(input_ids=prefix, use_cache=True, logits_to_keep=1, **cache_kwargs(model, cache))  # fills it in place
    cache.batch_repeat_interleave(batch_size)
    return cache


def output_head(model):
    """The LM head (vocabulary projection) of a possibly PEFT- or DDP-wrapped causal LM."""
    return getattr(model, "module", model).get_output_embeddings()


def decoder(model):
    """The transformer body under the LM head (``LlamaModel`` of a ``LlamaForCausalLM``), PEFT/DDP unwrapped.

    Calling it directly returns the final hidden states without ``output_hidden_states=True``, which
    records every layer and costs ~12% of a forward pass (SmolLM2-135M, transformers 5.24, CPU).
    LoRA, DoRA, IA3 and QLoRA live inside its modules, so they take part; prefix and prompt tuning
    inject in the PEFT wrapper's forward and do not (:func:`selection_is_exact` then fails).
    """
    m = getattr(model, "module", model)
    m = m.get_base_model() if hasattr(m, "get_base_model") else m
    return m.get_decoder()


@torch.no_grad()
def selection_is_exact(model, device: str = "cpu", n: int = 8) -> bool:
    """Whether ``head(decoder(ids))`` reproduces the model's logits (1e-4), so the loss may run the head
    on selected positions only. False for models that post-process logits (Gemma-2's soft-capping,
    Cohere's and Granite's logit scaling), for prefix and prompt tuning, and for models without a
    ``get_decoder``."""
    was_training = model.training
    model.eval()
    try:
        ids = torch.arange(1, n + 1, device=device).unsqueeze(0)
        logits = model(input_ids=ids, use_cache=False).logits[:, -n:]
        again = output_head(model)(decoder(model)(input_ids=ids, use_cache=False).last_hidden_state)
        return again.shape == logits.shape and bool(torch.allclose(again.float(), logits.float(), atol=1e-4,
                                                                   rtol=1e-4))
    except (AttributeError, TypeError, ValueError, RuntimeError):  # no decoder/head, or another forward
        return False
    finally:
        model.train(was_training)


def _selected_loss(model, kwargs: dict, batch: Batch, p: int, device: str) -> torch.Tensor:
    """Cross-entropy with the LM head run only on the (row, position) pairs that predict a label.

    ``logits_to_keep`` takes one set of positions for the whole batch, so with right-padded rows of
    different prompt lengths it keeps the union of every row's answer span (nearly all positions for
    generation rows). Here the body's final hidden states (B, T, H) are gathered to (N, H), N =
    labelled predictions, and only those go through the (H x vocab) head and the softmax.
    """
    kwargs = {k: v for k, v in kwargs.items() if k != "logits_to_keep"}
    hidden = decoder(model)(**kwargs).last_hidden_state  # (B, width - p, H), after the final norm
    targets = batch.labels[:, p + 1:].to(device)  # (B, width - p - 1): position t predicts t + 1
    sel = targets != IGNORE
    logits = output_head(model)(hidden[:, :-1][sel])  # (N, V)
    return F.cross_entropy(logits.float(), targets[sel])


def forward_loss(model, batch: Batch, offset: int, device: str, share_prefix: bool = False,
                 select: bool = False) -> torch.Tensor:
    """Mean cross-entropy over labelled tokens of one batch (logits only where needed).

    Args:
        model: a causal LM (possibly PEFT-wrapped).
        batch: from :func:`~tailorlm.train.collate.collate`.
        offset: positions the method prepends (prompt tuning's virtual tokens).
        device: where the model lives.
        share_prefix: compute a prefix common to all rows once (methods that do not use the KV
            cache or input embeddings themselves: full, LoRA, DoRA, IA3).
        select: run the LM head per row only where a label is predicted (see :func:`_selected_loss`;
            only where :func:`selection_is_exact`).

    A batch with ``classes`` (the classifier head) takes the cross-entropy over labels instead.
    """
    if batch.classes is not None:
        from .classifier import classifier_loss

        return classifier_loss(model, batch, device)
    width = batch.input_ids.shape[1]
    keep = batch.keep if batch.keep is not None else torch.arange(width - 1)
    p = shared_prefix_len(batch) if share_prefix else 0
    ids = batch.input_ids.to(device)
    # use_cache=False: no KV cache in training, and transformers only derives the block-diagonal
    # mask of packed rows from position_ids when there is no cache.
    kwargs = {"input_ids": ids, "logits_to_keep": (keep + offset).to(device), "use_cache": False}
    if p:
        kwargs.update(input_ids=ids[:, p:], logits_to_keep=(keep - p).to(device), use_cache=True,
                      position_ids=torch.arange(p, width, device=device).expand(ids.shape[0], -1),
                      **cache_kwargs(model, _prefix_cache(model, ids[:1, :p], ids.shape[0])))
    if batch.attention_mask is None:
        kwargs["position_ids"] = batch.position_ids.to(device)  # packed: resets define the blocks
    else:
        kwargs["attention_mask"] = batch.attention_mask.to(device)
    if select:
        return _selected_loss(model, kwargs, batch, p, device)
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
        n = len(batch.classes) if batch.classes is not None else int((batch.labels[:, 1:] != IGNORE).sum())
        if n == 0:
            continue
        with cfg.autocast():
            loss = forward_loss(model, batch, cfg.offset, cfg.device, cfg.share_prefix, cfg.select_logits)
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


@dataclass
class _Ctx:
    """What every step of one run needs (built once by :func:`run_loop`)."""

    model: object
    optimizer: object
    scheduler: object
    cfg: LoopConfig
    rows: list[Row]
    lengths: list[int]
    per_epoch: int  # batches per process per epoch
    rank: int = 0
    world: int = 1
    accelerator: object = None


def micro_batches(rows: list[Row], max_tokens: int) -> list[list[Row]]:
    """Split one batch (rows in plan order, so of similar length) into runs whose padded size (rows x
    longest row) stays within ``max_tokens``; one row at least per run; ``0``: no split."""
    if not max_tokens:
        return [rows]
    out: list[list[Row]] = [[]]
    width = 0
    for row in rows:
        n = sum(len(s) for s in row)
        if out[-1] and (len(out[-1]) + 1) * max(width, n) > max_tokens:
            out.append([])
            width = 0
        out[-1].append(row)
        width = max(width, n)
    return out


def _n_targets(batch: Batch) -> int:
    """What the batch's mean loss averages over: rows (classifier head) or labelled tokens."""
    return len(batch.classes) if batch.classes is not None else int((batch.labels[:, 1:] != IGNORE).sum())


def _train_step(c: _Ctx, step: int) -> dict:
    """One optimizer step (``grad_accum`` forward/backward passes); returns its log row.

    A pass whose padded size exceeds ``train.max_batch_tokens`` runs as several smaller forward and
    backward passes, each loss weighted by its share of the batch's targets, so the gradient is the
    batch's (token-weighted mean), with a fraction of the activation memory. Single process only
    (under ``accelerate`` every process must make the same number of backward calls)."""
    spec, t0 = c.cfg.spec, time.perf_counter()
    loss_sum, tokens = 0.0, 0
    split = spec.max_batch_tokens if c.accelerator is None else 0
    for m in range(step * spec.grad_accum, (step + 1) * spec.grad_accum):
        epoch, k = divmod(m, c.per_epoch)
        idx = _plan_cache(c.lengths, spec, epoch)[k * c.world + c.rank]
        parts = [collate(part, c.cfg.pad_id, c.cfg.packed)
                 for part in micro_batches([c.rows[i] for i in idx], 0 if c.cfg.packed else split)]
        counts = [_n_targets(b) for b in parts]
        total = sum(counts) or 1
        for batch, count in zip(parts, counts):
            if len(parts) > 1 and not count:
                continue
            share = count / total if len(parts) > 1 else 1.0
            with c.cfg.autocast():
                loss = forward_loss(c.model, batch, c.cfg.offset, c.cfg.device, c.cfg.share_prefix,
                                    c.cfg.select_logits)
            check_finite(float(loss.detach()), step + 1)
            if c.accelerator is None:
                (loss * share / spec.grad_accum).backward()
            elif _is_deepspeed(c.accelerator):
                c.accelerator.backward(loss)  # the engine scales by 1/grad_accum and steps at the boundary
            else:
                c.accelerator.backward(loss / spec.grad_accum)
            loss_sum += float(loss.detach()) * share / spec.grad_accum
            tokens += batch.n_tokens
    params = [p for p in c.model.parameters() if p.requires_grad]
    clip = c.accelerator.clip_grad_norm_ if c.accelerator is not None else torch.nn.utils.clip_grad_norm_
    grad_norm = clip(params, spec.max_grad_norm)
    grad_norm = float(grad_norm) if grad_norm is not None else float("nan")  # DeepSpeed clips itself
    if not _is_deepspeed(c.accelerator):
        check_finite(grad_norm, step + 1, "gradient norm")
    lr = c.scheduler.get_last_lr()[0]
    c.optimizer.step()
    c.scheduler.step()
    c.optimizer.zero_grad(set_to_none=True)
    loss_mean, rank_tokens = _across_ranks(c, loss_sum, tokens)
    dt = time.perf_counter() - t0
    row = {"step": step + 1, "epoch": round((step + 1) * spec.grad_accum / c.per_epoch, 4), "loss": loss_mean,
           "lr": lr, "grad_norm": grad_norm, "tokens": sum(rank_tokens), "seconds": dt,
           "tokens_per_second": sum(rank_tokens) / dt if dt > 0 else 0.0}
    if c.world > 1:
        row["rank_tokens"] = rank_tokens  # what each process trained on this step (they take different batches)
    return row


def _across_ranks(c: _Ctx, loss: float, tokens: int) -> tuple[float, list[int]]:
    """Mean loss over the processes and each one's token count (one small gather per step).

    Single-process it is ``(loss, [tokens])``. Under ``accelerate launch`` every process must call it.
    """
    if c.world == 1:
        return loss, [tokens]
    local = torch.tensor([loss, float(tokens)], dtype=torch.float64, device=c.cfg.device)
    stats = c.accelerator.gather(local).view(c.world, 2)  # (world, [loss, tokens])
    return float(stats[:, 0].mean()), [int(t) for t in stats[:, 1].tolist()]


def _validate(c: _Ctx, val_rows: list[Row], state: dict, monitor: MetricsWriter | None) -> bool:
    """Validation loss into ``state`` and the log; returns whether it is the best so far."""
    ev = evaluate(c.model, val_rows, c.cfg, c.cfg.spec.batch_size)
    improved = False
    if ev is not None:
        check_finite(ev, state["step"], "validation loss")
        state["last_eval_loss"] = ev
        if monitor:
            monitor.log({"step": state["step"], "eval_loss": ev})
        if state["best_eval_loss"] is None or ev < state["best_eval_loss"]:
            state.update(best_eval_loss=ev, best_step=state["step"], bad_evals=0)
            improved = True
        else:
            state["bad_evals"] += 1
    if monitor:
        monitor.plot()
    return improved


BUDGET_PROBE = 4  # timed steps after the first (warm-up) that plan a ``train.max_minutes`` run
BUDGET_SLACK = 1.15  # a run this far past its budget stops at once (the machine slowed down)


def _replan(c: _Ctx, n_steps: int, step: int) -> None:
    """A schedule over ``n_steps`` in place of the current one, advanced to ``step`` (warm-up and
    decay follow the new length, so the learning rate still ends where the schedule ends)."""
    sched = c.cfg.make_scheduler(n_steps)
    for _ in range(step):
        sched.step()
    c.scheduler = sched


def budget_steps(max_minutes: float, done_seconds: float, step: int, step_times: list[float], n_steps: int,
                 accelerator=None) -> int:
    """Optimizer steps that fit in ``max_minutes`` of training steps: ``step`` done in ``done_seconds``,
    the rest at the median of ``step_times`` (the slowest process's, under ``accelerate``)."""
    per_step = sorted(step_times)[len(step_times) // 2]
    if accelerator is not None and accelerator.num_processes > 1:
        t = torch.tensor([per_step], dtype=torch.float64, device=accelerator.device)
        per_step = float(accelerator.reduce(t, reduction="max")[0])  # every process plans the same length
    left = max(0.0, max_minutes * 60 - done_seconds)
    return max(step + 1, min(n_steps, step + int(left // per_step) if per_step > 0 else n_steps))


def run_loop(model, optimizer, scheduler, train_rows: list[Row], val_rows: list[Row], cfg: LoopConfig,
             run_dir: Path, resume_from: Path | None = None, accelerator=None) -> LoopResult:
    """Train until ``max_steps``/``epochs`` or early stopping; validate, checkpoint and log along the way."""
    spec = cfg.spec
    rank = accelerator.process_index if accelerator else 0
    world = accelerator.num_processes if accelerator else 1
    c = _Ctx(model, optimizer, scheduler, cfg, train_rows, [sum(len(s) for s in r) for r in train_rows],
             max(1, math.ceil(len(train_rows) / spec.batch_size) // world), rank, world, accelerator)
    n_steps = total_steps(spec, c.per_epoch)
    ckpt_root = run_dir / "checkpoints"
    if rank == 0:
        ck.clean_staging(ckpt_root)
    # loss_sum/loss_steps: the whole run's training loss (summed per step), carried across resumes.
    state = {"step": 0, "tokens": 0, "wall_seconds": 0.0, "best_eval_loss": None, "best_step": None,
             "bad_evals": 0, "last_eval_loss": None, "loss_sum": 0.0, "loss_steps": 0, "precision": cfg.precision}
    resumed_from = None
    planned = n_steps  # what the data and epochs ask for (the time budget may plan fewer)
    if resume_from is not None:
        state.update(ck.load_checkpoint(resume_from, model, optimizer, scheduler, accelerator))
        resumed_from = state["step"]
        log.info("resumed from %s at step %d", resume_from, resumed_from)
        if state.get("budget_steps") and cfg.make_scheduler is not None:  # the time budget's plan, kept
            n_steps = int(state["budget_steps"])
            _replan(c, n_steps, state["step"])
    step_times: list[float] = []
    budget = time_budget(spec, cfg.device)
    monitor = MetricsWriter(run_dir, resume_step=state["step"]) if rank == 0 else None
    if resumed_from and not state["loss_steps"] and monitor:  # a checkpoint from before loss_sum existed
        losses = [r["loss"] for r in monitor.rows if "loss" in r and r["step"] <= resumed_from]
        state.update(loss_sum=float(sum(losses)), loss_steps=len(losses))
    bar = tqdm(total=n_steps, initial=state["step"], desc="train", unit="step", disable=not (cfg.progress and rank == 0))
    model.train()
    stopped_early, recent = False, []
    try:
        while state["step"] < n_steps and not stopped_early:
            row = _train_step(c, state["step"])
            state["step"] = step = row["step"]
            state["tokens"] += row.pop("tokens")
            seconds = row.pop("seconds")
            state["wall_seconds"] += seconds
            if budget and not state.get("budget_steps"):
                step_times.append(seconds)
                if len(step_times) > BUDGET_PROBE:  # the first step (warm-up) is not counted
                    fit = budget_steps(budget, state["wall_seconds"], step, step_times[1:], n_steps, accelerator)
                    state["budget_steps"] = fit
                    if fit < n_steps and cfg.make_scheduler is not None:
                        log.warning("train.max_minutes %g: %d of the %d planned steps fit (%.1f s/step); the "
                                    "schedule now ends at step %d. Set train.max_minutes: 0 to train them all.",
                                    budget, fit, n_steps, state["wall_seconds"] / step, fit)
                        n_steps = fit
                        _replan(c, n_steps, step)
                        bar.total = n_steps
                        bar.refresh()
            if budget and state["wall_seconds"] > budget * 60 * BUDGET_SLACK and step < n_steps:
                log.warning("train.max_minutes %g: stopping at step %d of %d (%.1f min of steps, the machine "
                            "slowed down); the learning rate had not decayed to its end.",
                            budget, step, n_steps, state["wall_seconds"] / 60)
                n_steps = step
            row["tokens"] = state["tokens"]
            recent = (recent + [row["loss"]])[-spec.log_every:]
            state["loss_sum"] += row["loss"]
            state["loss_steps"] += 1
            if monitor:
                monitor.log(row)
            bar.update(1)
            bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}", tok_s=f"{row['tokens_per_second']:.0f}")
            improved = _validate(c, val_rows, state, monitor) if step % spec.eval_every == 0 or step == n_steps else False
            stopped_early = bool(spec.early_stopping_patience) and state["bad_evals"] >= spec.early_stopping_patience
            # The final step becomes the artifact instead; an improving validation always gets a
            # checkpoint so early stopping can restore the best weights.
            if (step % spec.save_every == 0 or improved) and step < n_steps and not stopped_early:
                _save(ckpt_root, step, model, optimizer, c.scheduler, state, spec, accelerator)
        if stopped_early:
            log.warning("early stopping at step %d: no better validation loss in %d validations",
                        state["step"], spec.early_stopping_patience)
    finally:
        bar.close()
        if monitor:
            monitor.plot()
            monitor.close()
    return LoopResult(
        step=state["step"], tokens=state["tokens"], wall_seconds=state["wall_seconds"],
        train_loss=state["loss_sum"] / state["loss_steps"] if state["loss_steps"] else float("nan"),
        eval_loss=state["last_eval_loss"], best_eval_loss=state["best_eval_loss"], best_step=state["best_step"],
        stopped_early=stopped_early, history=monitor.rows if monitor else [], resumed_from_step=resumed_from,
        planned_steps=planned if n_steps < planned else None,
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
