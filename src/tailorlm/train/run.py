"""``run_training``: the train stage's entry point (see docs/architecture.md and docs/training.md).

Setup (run folder, tokenized data, base model, method, optimizer), the loop, then the artifact:
``runs/<run_id>/model/`` with the adapter (PEFT format) or full weights, the tokenizer and its chat
template, ``spec.resolved.yaml`` and ``provenance.json``. The run is recorded in the store's ``runs``
table (``running`` -> ``finished`` or ``failed``); ``resume=True`` continues the newest unfinished
run of the same spec and dataset version from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
import uuid
from pathlib import Path

import torch
import yaml

from ..artifacts import atomic_write_text
from ..errors import UserError
from ..keys import input_key, train_inputs
from ..results import DatasetVersion, TrainRun
from ..spec import TailorSpec
from ..spec.train import retrieved_examples, time_budget
from ..store.runs import record_run, unfinished_runs
from ..workspace import Workspace
from . import checkpoints as ck
from .collate import pack_rows, packing_efficiency, plan_batches
from .classifier import encode_classifier_split, load_classifier_base, prompt_recipe, resolve_head
from .export import save_artifact
from .loop import LoopConfig, run_loop, selection_is_exact, total_steps
from .methods import apply_method, learning_rate, virtual_token_offset
from .pretrain import encode_text_split
from .sft import encode_sft_split

log = logging.getLogger(__name__)


class NothingToResume(UserError):
    """``--resume`` found no unfinished run with these inputs, or one without a complete checkpoint."""

# Methods that leave the KV cache and input embeddings alone, so a shared prompt prefix can be
# computed once per batch (prefix/prompt tuning inject their own virtual tokens there).
SHARE_PREFIX_METHODS = {"full", "lora", "dora", "qlora", "ia3"}


def run_key(spec: TailorSpec, dataset: DatasetVersion) -> str:
    """What must match for ``--resume`` to continue a run: its inputs."""
    return input_key(train_inputs(spec, dataset.version))[:16]  # the pipeline's train key, less the code version


def _find_resumable(ws: Workspace, key: str) -> tuple[str, Path] | None:
    for rid, path, info in unfinished_runs(ws.store):
        if info.get("run_key") == key and path.exists():
            return rid, path
    return None


def _record(ws: Workspace, run_id: str, status: str, path: Path, info: dict, dataset: str, finished: bool = False) -> None:
    record_run(ws.store, run_id, status, path, info, dataset, finished)


SHOT_OVERHEAD = 16  # chat-template tokens around one retrieved example's two turns


def row_budget(spec: TailorSpec, dataset: DatasetVersion, tokenizer, head: str = "lm") -> int:
    """Longest training row in tokens: ``data.max_seq_len`` (the example's own part) plus the shared
    instruction as the training prompt renders it, plus a few tokens of re-tokenization slack, plus
    ``data.max_seq_len`` and the turns' template tokens per retrieved example. The classifier head
    reads the message alone: ``data.max_seq_len``."""
    from ..data.lengths import shared_tokens

    if spec.objective.task == "continued_pretraining" or head == "classifier":
        return spec.data.max_seq_len
    shots = retrieved_examples(spec.train, spec.objective.task, head)
    return (spec.data.max_seq_len * (1 + shots) + SHOT_OVERHEAD * shots
            + shared_tokens(spec.objective, dataset.labels, tokenizer, spec.train.labels_in_prompt) + 4)


def example_index(spec: TailorSpec, dataset: DatasetVersion, head: str = "lm"):
    """``(index, k)``: the training split's :class:`~tailorlm.rag.examples.ExampleIndex` when the
    recipe shows ``k`` > 0 retrieved examples (``train.retrieved_examples``), else ``(None, 0)``."""
    k = retrieved_examples(spec.train, spec.objective.task, head)
    if k == 0:
        return None, 0
    from ..rag import ExampleIndex
    from .sft import read_split

    rows = [r for r in read_split(dataset.split_path("train")).to_dict("records") if r.get("kind", "sft") == "sft"]
    if len(rows) <= k:
        log.info("train.retrieved_examples: %d training rows, too few to retrieve %d other(s) each; off", len(rows), k)
        return None, 0
    return ExampleIndex.build(rows, spec.train.retrieval_groups, spec.train.seed), k


def _encode(spec: TailorSpec, path: Path, tokenizer, labels: list[str], head: str, budget: int, progress: bool,
            examples=None, k: int = 0, pool: int = 1):
    if spec.objective.task == "continued_pretraining":
        return encode_text_split(path, tokenizer, progress)
    if head == "classifier":
        return encode_classifier_split(path, tokenizer, spec.objective, labels, budget, progress)
    return encode_sft_split(path, tokenizer, spec.objective, labels, budget, progress, spec.train.labels_in_prompt,
                            examples, k, pool, spec.train.seed)


def build_rows(spec: TailorSpec, dataset: DatasetVersion, tokenizer, progress: bool, head: str = "lm",
               examples=None, k: int = 0):
    """Tokenize train/validation and lay them out in rows (packed or one example per row); ``examples``
    and ``k``: see :func:`example_index`."""
    cpt = spec.objective.task == "continued_pretraining"
    budget = row_budget(spec, dataset, tokenizer, head)
    enc = {}
    for split in ("train", "validation"):
        path = dataset.split_path(split)
        if split == "validation" and not path.exists():
            enc[split] = None
            continue
        pool = spec.train.retrieval_pool if split == "train" else 1  # validation shows what a new message gets
        enc[split] = _encode(spec, path, tokenizer, _labels(spec, dataset), head, budget, progress, examples, k, pool)
    if not enc["train"].examples:
        raise ValueError(f"{dataset.split_path('train')}: no usable training rows "
                         f"({len(enc['train'].skipped)} skipped, e.g. {list(enc['train'].skipped.items())[:2]}).")
    packed = cpt or (spec.train.packing and head != "classifier")  # one message per row for the head
    rows = {}
    for split, e in enc.items():
        if e is None:
            rows[split] = []
        elif packed:
            rows[split] = pack_rows(e.examples, budget)
        else:
            rows[split] = [[x] for x in e.examples]
    lengths = [sum(len(s) for s in r) for r in rows["train"]]
    eff = packing_efficiency(rows["train"], plan_batches(lengths, spec.train.batch_size, spec.train.seed, 0,
                                                         spec.train.group_by_length and not packed))
    skipped = {s: e.skipped for s, e in enc.items() if e is not None and e.skipped}
    return rows, packed, eff, skipped, enc["train"].n_tokens


def _labels(spec: TailorSpec, dataset: DatasetVersion) -> list[str]:
    """The label set, as the evaluation reads it (the spec's list, else the data's)."""
    return list(spec.objective.labels or dataset.labels)


def _load_model(spec: TailorSpec, head: str = "lm", labels: list[str] | None = None):
    from ..models import load_base
    from ..models.loader import LoadedModel, load_tokenizer, resolve_base
    from ..models.precision import select_device

    if head == "classifier":
        return load_classifier_base(spec, labels or [])
    if spec.train.method != "qlora":
        return load_base(spec.model.base, spec.model.device, spec.model.dtype, spec.model.revision, spec.model.download)
    from .methods import load_for_method

    resolved = resolve_base(spec.model.base, spec.model.revision, spec.model.download)
    dev, dtype, _ = select_device(spec.model.device, spec.model.dtype)
    model = load_for_method(spec, resolved.path, dev, dtype)
    return LoadedModel(model, load_tokenizer(resolved.path), dev, False, resolved)


def _optimizer(model, spec, lr: float):
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": spec.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr)


def run_training(spec: TailorSpec, ws: Workspace, dataset: DatasetVersion, *, resume: bool = False,
                 progress: bool = True, accelerator=None) -> TrainRun:
    """Fine-tune ``spec.model.base`` on ``dataset`` with ``spec.train``; returns the finished run.

    Args:
        spec: the parsed tailor.yaml.
        ws: the workspace (run folder and store).
        dataset: the dataset version to train on (train and validation parquet).
        resume: continue the newest unfinished run with the same inputs from its last checkpoint,
            in the precision that checkpoint records.
        progress: show progress bars.
        accelerator: an ``accelerate.Accelerator`` under ``accelerate launch`` / ``torchrun``.

    Raises:
        NothingToResume: ``resume`` and no unfinished run with these inputs has a complete checkpoint.
        TrainingDiverged: the loss, a gradient norm or a final weight became NaN/Inf (the run is
            marked failed; no artifact is saved or registered).
    """
    main = accelerator is None or accelerator.is_main_process
    run_id, run_dir, resume_from, key = _open_run(spec, ws, dataset, resume, accelerator)
    head, why = resolve_head(spec.objective.task, spec.train.head, spec.train.method)
    log.info("train.head: %s (%s)", head, why)
    torch.manual_seed(spec.train.seed)  # the adapter's (and head's) initial weights (overwritten on resume)
    loaded = _load_model(spec, head, _labels(spec, dataset))
    examples, shots = example_index(spec, dataset, head)
    rows, packed, eff, skipped, _ = build_rows(spec, dataset, loaded.tokenizer, progress, head, examples, shots)
    saved = ck.read_state(resume_from).get("precision") if resume_from is not None else None
    model, optimizer, scheduler, cfg = _setup(spec, loaded, rows, packed, progress, accelerator, saved, head)
    val_rows = validation_sample(rows["validation"], spec.train.eval_rows, spec.train.seed)
    info = {"run_key": key, "method": spec.train.method, "head": head, "head_reason": why,
            "packing_efficiency": eff, "skipped": skipped, "retrieved_examples": shots,
            "retrieval_pool": spec.train.retrieval_pool if shots else None,
            "retrieval_groups": examples.groups if shots else None,
            "train_rows": len(rows["train"]), "validation_rows": len(rows["validation"]),
            "validation_rows_used": len(val_rows), "lr": cfg.lr,
            "precision": precision(loaded, accelerator, cfg.autocast, cfg.precision if saved is not None else None)}
    if resume_from is not None:
        info["resumed_from"] = {"step": ck.read_state(resume_from)["step"], "checkpoint": str(resume_from)}
        log.info("resuming run %s from %s (step %d); precision from the checkpoint: %s", run_id, resume_from,
                 info["resumed_from"]["step"], info["precision"])
    info["lm_head"] = "labelled positions per row" if cfg.select_logits else "logits_to_keep (batch union)"
    log.info("training precision: %s", info["precision"])
    try:
        result = run_loop(model, optimizer, scheduler, rows["train"], val_rows, cfg, run_dir,
                          resume_from=resume_from, accelerator=accelerator)
        final, state, weights_step = final_weights(model, result, run_dir, accelerator)
        metrics = {**_metrics(result, eff, cfg.lr, skipped, weights_step), "resumed_from_step": result.resumed_from_step}
        run = TrainRun(run_id=run_id, path=str(run_dir), model_path=str(run_dir / "model"), method=spec.train.method,
                       base_ref=loaded.resolved.ref, base_path=loaded.resolved.path,
                       base_weight_hash=loaded.resolved.weight_hash, dataset_version=dataset.version, metrics=metrics)
        if main:
            prov = {**_provenance(run, dataset, spec, loaded.tokenizer, shots, examples), "head": head}
            if head == "classifier":
                prov["prompt_recipe"] = prompt_recipe(_labels(spec, dataset), spec.data.max_seq_len)
            save_artifact(final, loaded.tokenizer, Path(run.model_path), prov, run.method, state_dict=state,
                          write_extra=examples.save if examples is not None else None)
    except BaseException as exc:
        if main:
            _record(ws, run_id, "failed", run_dir, {**info, "error": f"{type(exc).__name__}: {exc}"}, dataset.version)
        raise
    if main:
        _record(ws, run_id, "finished", run_dir, {**info, "metrics": metrics, "model_path": run.model_path},
                dataset.version, finished=True)
    if accelerator is not None:
        accelerator.wait_for_everyone()
    return run


def _provenance(run: TrainRun, dataset: DatasetVersion, spec: TailorSpec, tokenizer=None, shots: int = 0,
                examples=None) -> dict:
    """``provenance.json`` of the artifact (code version and method are added by save_artifact);
    ``examples``: the retrieved-examples index (its rows' answers set the recipe's ``repeat_limit``)."""
    from ..prompting import RETRIEVAL_TASKS, prompt_recipe, repeat_limit

    limit = 0
    if (shots and examples is not None and spec.train.copy_bias and spec.objective.task in RETRIEVAL_TASKS
            and tokenizer is not None):
        answers = [r["completion"] for r in examples.rows if isinstance(r.get("completion"), str)]
        limit = repeat_limit(tokenizer, answers)
    return {"run_id": run.run_id, "method": run.method, "base_ref": run.base_ref, "base_path": run.base_path,
            "base_weight_hash": run.base_weight_hash, "dataset_name": dataset.name,
            "dataset_version": dataset.version, "task": spec.objective.task, "labels": dataset.labels,
            "prompt_recipe": prompt_recipe(spec.objective, dataset.labels, spec.train.labels_in_prompt, tokenizer,
                                           shots, spec.train.copy_bias, limit),
            "metrics": run.metrics, "spec": spec.model_dump(mode="json")}


def _metrics(result, eff: float, lr: float, skipped: dict, weights_step: int) -> dict:
    """``TrainRun.metrics`` (see docs/training.md)."""
    return {
        "train_loss": result.train_loss, "eval_loss": result.eval_loss, "best_eval_loss": result.best_eval_loss,
        "best_step": result.best_step, "steps": result.step, "weights_step": weights_step,
        "train_tokens": result.tokens, "wall_seconds": round(result.wall_seconds, 2),
        "tokens_per_second": result.tokens / result.wall_seconds if result.wall_seconds else 0.0,
        "packing_efficiency": round(eff, 4), "stopped_early": result.stopped_early, "learning_rate": lr,
        "skipped_rows": sum(len(v) for v in skipped.values()),
        **({"planned_steps": result.planned_steps} if result.planned_steps else {}),
    }


def final_weights(model, result, run_dir: Path, accelerator=None):
    """The weights to ship: the best checkpoint's after early stopping, else the last step's.

    Every process must call this. Under FSDP or DeepSpeed ZeRO-3 each process holds only a shard of
    the weights; ``accelerator.get_state_dict`` gathers them (a collective) and the main process
    gets the full state dict, which :func:`~tailorlm.train.export.save_artifact` writes.

    Returns:
        ``(unwrapped model, state dict or None, step of the weights)``; the state dict is ``None``
        single-process (the model's own weights are saved).

    Raises:
        FileNotFoundError: early stopping chose a best checkpoint that is missing (the last weights
            are never shipped in its place).
    """
    final = accelerator.unwrap_model(model) if accelerator is not None else model
    step = result.step
    if result.stopped_early and result.best_step is not None:
        restore_best(run_dir / "checkpoints" / f"step-{result.best_step:06d}", model, final, accelerator)
        step = result.best_step
    state = accelerator.get_state_dict(model) if accelerator is not None else None
    return final, state, step


def restore_best(best: Path, model, final, accelerator=None) -> None:
    """Load the best checkpoint's weights back (all processes when sharded, else the main one)."""
    sharded = ck.is_sharded(accelerator)
    if not sharded and accelerator is not None and not accelerator.is_main_process:
        return  # only the main process saves the artifact
    marker = best / "state.json" if sharded else best / "trainable.pt"
    if not marker.exists():
        raise FileNotFoundError(
            f"{marker}: missing, so early stopping cannot ship the best weights (step {best.name}); the last "
            "weights are not shipped in their place. Keep the run folder intact (do not delete checkpoints "
            "while training) and train again, or set train.early_stopping_patience: 0.")
    if sharded:
        accelerator.load_state(str(best))  # model shards (and optimizer), written by save_state
        return
    missing_or_extra = final.load_state_dict(torch.load(marker, map_location="cpu", weights_only=True), strict=False)
    if missing_or_extra.unexpected_keys:
        raise RuntimeError(f"{marker}: has weights the model lacks ({missing_or_extra.unexpected_keys[:3]}); it was "
                           "written for another method or base model.")


def _open_run(spec: TailorSpec, ws: Workspace, dataset: DatasetVersion, resume: bool, accelerator):
    """Pick the run (new, or the one to resume), create its folder and record it as running."""
    key = run_key(spec, dataset)
    found = _find_resumable(ws, key) if resume else None
    if resume and found is None:
        raise NothingToResume(
            f"--resume: nothing to resume. Looked in the store ({ws.store.engine.url.render_as_string(hide_password=True)}) "
            f"for an unfinished train run (status running or failed) with run key {key[:12]}... (this spec's "
            f"train/model settings and dataset {dataset.name}@{dataset.version}) whose folder under {ws.runs} "
            "still exists, and found none. Run without --resume to start a new run.")
    run_id, run_dir = found or (f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}", None)
    run_dir = run_dir or ws.runs / run_id
    if accelerator is not None and accelerator.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        run_id, run_dir, found = broadcast_object_list([run_id, run_dir, found])  # every rank: the main's run
    run_dir.mkdir(parents=True, exist_ok=True)
    resume_from = ck.latest_checkpoint(run_dir / "checkpoints") if found else None
    if found and resume_from is None:
        raise NothingToResume(
            f"--resume: run {run_id} stopped before its first complete checkpoint (looked for "
            f"{run_dir / 'checkpoints'}/step-*/state.json; half-written .staging-* folders do not count), so there "
            "is nothing to resume. Run without --resume to start a new run.")
    if accelerator is None or accelerator.is_main_process:
        atomic_write_text(run_dir / "spec.resolved.yaml", yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
        _record(ws, run_id, "running", run_dir, {"run_key": key, "method": spec.train.method}, dataset.version)
    return run_id, run_dir, resume_from, key


def validation_sample(rows: list, limit: int, seed: int) -> list:
    """The rows the periodic validation reads: all of them, or a seeded sample of ``limit`` (in order)."""
    if not limit or len(rows) <= limit:
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in keep]


def _setup(spec: TailorSpec, loaded, rows, packed: bool, progress: bool, accelerator, saved_precision=None,
           head: str = "lm"):
    """The method-wrapped model, optimizer, LR schedule and loop settings (``saved_precision``: a
    resumed checkpoint's, reused as it is)."""
    from transformers import get_scheduler

    tspec = spec.train
    if tspec.method in ("prefix", "prompt") and ck.params_sharded(accelerator):
        raise ValueError(f"train.method: {tspec.method} tuning cannot run with sharded weights (FSDP or DeepSpeed "
                         "ZeRO-3): PEFT saves its virtual tokens from the live module, not from the gathered "
                         "state dict. Use the ddp_gpu or deepspeed_zero2 config, or method: lora.")
    model = apply_method(loaded.model, tspec, "SEQ_CLS" if head == "classifier" else "CAUSAL_LM")
    lr = learning_rate(tspec, head, budgeted=time_budget(tspec, str(loaded.device)) > 0)
    optimizer = _optimizer(model, tspec, lr)
    world = accelerator.num_processes if accelerator else 1
    n_steps = total_steps(tspec, max(1, math.ceil(len(rows["train"]) / tspec.batch_size) // world))

    def make_scheduler(n: int):
        return get_scheduler(tspec.scheduler, optimizer, num_warmup_steps=int(tspec.warmup_ratio * n),
                             num_training_steps=n)

    scheduler = make_scheduler(n_steps)
    if accelerator is not None:
        _configure_deepspeed(accelerator, tspec)
        model, optimizer = accelerator.prepare(model, optimizer)
    autocast = choose_autocast(loaded, accelerator, spec.model.dtype, saved_precision)
    cfg = LoopConfig(spec=tspec, lr=lr, pad_id=loaded.tokenizer.pad_token_id, packed=packed,
                     offset=virtual_token_offset(tspec), autocast=autocast,
                     precision=precision_state(loaded, accelerator, autocast),
                     device=loaded.device if accelerator is None else str(accelerator.device), progress=progress,
                     share_prefix=(not packed and tspec.method in SHARE_PREFIX_METHODS and world == 1
                                   and head != "classifier"), make_scheduler=make_scheduler)
    # Single process only: under DDP/FSDP/DeepSpeed the head call outside the wrapped forward is untested.
    cfg.select_logits = world == 1 and head != "classifier" and selection_is_exact(model, cfg.device)
    return model, optimizer, scheduler, cfg


def _configure_deepspeed(accelerator, tspec) -> None:
    """DeepSpeed needs the batch shape up front (there is no prepared dataloader to infer it from)."""
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is not None:
        plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = tspec.batch_size
        plugin.deepspeed_config["gradient_accumulation_steps"] = tspec.grad_accum


def precision_state(loaded, accelerator, autocast) -> dict:
    """The precision as saved in each checkpoint's ``state.json``: bf16 autocast on CPU or not, weight dtype."""
    cpu_bf16 = accelerator is None and (autocast is _cpu_bf16 or (autocast is not contextlib.nullcontext
                                                                  and loaded.autocast_bf16))
    return {"autocast_bf16": bool(cpu_bf16), "dtype": str(next(loaded.model.parameters()).dtype).replace("torch.", "")}


def _cpu_bf16():
    return torch.autocast("cpu", dtype=torch.bfloat16)


def choose_autocast(loaded, accelerator, dtype_setting: str = "auto", saved: dict | None = None):
    """The forward-pass context; on resume, the checkpoint's choice (``saved``) wins over a new measurement.

    The CPU bf16 choice is measured per process (a matmul timed both ways), so two processes can
    choose differently; a resumed run must continue in the precision it started in.
    """
    if saved is None or accelerator is not None or not str(loaded.device).startswith("cpu"):
        return _autocast(loaded, accelerator, dtype_setting)
    dtype = str(next(loaded.model.parameters()).dtype).replace("torch.", "")
    if saved.get("dtype") and saved["dtype"] != dtype:
        log.warning("the checkpoint was trained with %s weights, this process loaded %s (model.dtype or the "
                    "device changed); the resumed steps will not match an uninterrupted run exactly",
                    saved["dtype"], dtype)
    return _cpu_bf16 if saved.get("autocast_bf16") else contextlib.nullcontext


def precision(loaded, accelerator, autocast, state: dict | None = None) -> str:
    """What the forward passes run in, for the run record: e.g. ``bf16 autocast (measured 2.03x fp32)``."""
    if state is not None and accelerator is None and str(loaded.device).startswith("cpu"):
        return f"{state['dtype']}{' with bf16 autocast' if state['autocast_bf16'] else ''} (reused from the checkpoint)"
    if accelerator is not None and accelerator.mixed_precision != "no":
        return f"{accelerator.mixed_precision} mixed precision (accelerate)"
    dtype = str(next(loaded.model.parameters()).dtype).replace("torch.", "")
    if str(loaded.device).startswith("cpu") and loaded.autocast_bf16:
        from ..models.precision import cpu_bf16_speedup

        measured = f"measured {cpu_bf16_speedup():.2f}x fp32"
        return f"bf16 autocast ({measured})" if autocast == loaded.autocast else f"{dtype} (bf16 autocast {measured})"
    return dtype


def _autocast(loaded, accelerator, dtype_setting: str = "auto"):
    """The forward-pass context: accelerate's mixed precision, else bf16 autocast on CPU where it pays off."""
    import contextlib

    from ..models.precision import use_cpu_autocast

    if accelerator is not None and accelerator.mixed_precision != "no":
        return accelerator.autocast
    if loaded.autocast_bf16 and not use_cpu_autocast(True, dtype_setting):
        log.info("bf16 autocast is slower than fp32 on this CPU (measured); training in fp32.")
        return contextlib.nullcontext
    return loaded.autocast
