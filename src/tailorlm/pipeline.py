"""The stage table, and running it in order, skipping any stage whose inputs did not change.

:data:`STAGE_TABLE` declares every stage: its name, the spec sections it reads, the stages it needs,
its run function and how to tell its outputs still exist. :func:`run_pipeline` runs the stages up to
``until`` (each one's needs first); every CLI command goes through it, so adding a stage is one row.

Each stage has an *input key*: a hash of the spec sections it reads, the upstream stage's output id
and the content hashes of any files it reads (:mod:`tailorlm.keys`). The key and the stage's outputs
are stored in the ``stage_cache`` table; an unchanged key whose outputs still exist means the stage is
skipped. Forcing a stage reruns it and, since its outputs change, everything downstream.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .artifacts import sha256_file
from .keys import TRAIN_READS, input_key, section_parts, train_inputs
from .results import DatasetVersion, EvalResult, ModelVersion, TrainRun
from .spec import TailorSpec
from .workspace import Workspace


@dataclass
class Context:
    """What one pipeline invocation carries from stage to stage."""

    spec: TailorSpec
    ws: Workspace
    force: set[str] = field(default_factory=set)
    progress: bool = True
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def forced(self, stage: str) -> bool:
        return "all" in self.force or stage in self.force


def _audit(ctx: Context, action: str, subject: str, details: dict[str, Any] | None = None) -> None:
    from .registry import audit

    audit.record(ctx.ws, action, subject, details or {})


def _writer(fn: Callable) -> Callable:
    """Run a stage under the project's writer lock (re-entrant: ``run`` holds it across its stages)."""

    @functools.wraps(fn)
    def locked(ctx, *args, **kwargs):
        from .lock import project_lock

        with project_lock(ctx.ws.dir):
            return fn(ctx, *args, **kwargs)

    return locked


def _cached(ctx: Context, stage: str, key: str) -> dict | None:
    """The stage's stored outputs for ``key``, when not forced and its row says they still exist."""
    if ctx.forced(stage):
        return None
    out = ctx.ws.store.cached_stage(stage, key)
    if out is not None and STAGE_BY_NAME[stage].outputs_exist(ctx.ws, out):
        return out
    return None


def _run(ctx: Context, stage: str, key: str, fn: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    result = fn()
    ctx.seconds[stage] = round(time.perf_counter() - t0, 2)
    ctx.ws.store.save_stage(stage, key, result.to_dict())
    ctx.ran.append(stage)
    return result


def source_hashes(spec: TailorSpec) -> dict[str, str]:
    """Content hashes of every raw input file (folders: each file inside)."""
    out: dict[str, str] = {}
    for src in spec.data.sources:
        p = spec.resolve(src.path)
        files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        for f in files:
            out[str(f.relative_to(spec.root) if f.is_relative_to(spec.root) else f)] = sha256_file(f)
    return out


@_writer
def stage_data(ctx: Context) -> DatasetVersion:
    from .data.write import version_section

    spec = ctx.spec
    key = input_key({
        "data": version_section(spec),  # data.* less num_proc/batch_size (speed, not content)
        **section_parts(spec, ("objective",)),
        "tokenizer": spec.model.base,
        "sources": source_hashes(spec),
        "code": __version__,
    })
    hit = _cached(ctx, "data", key)
    if hit is not None:
        ctx.skipped.append("data")
        return DatasetVersion(**hit)
    from .data.prepare import prepare_dataset

    ds = _run(ctx, "data", key, lambda: prepare_dataset(spec, ctx.ws, progress=ctx.progress))
    _audit(ctx, "data.prepare", f"dataset:{ds.name}@{ds.version}", {"counts": ds.counts})
    return ds


@_writer
def stage_train(ctx: Context, dataset: DatasetVersion, resume: bool = False) -> TrainRun:
    spec = ctx.spec
    key = input_key({**train_inputs(spec, dataset.version), "code": __version__})  # --resume: the same parts
    hit = _cached(ctx, "train", key)
    if hit is not None and not resume:
        ctx.skipped.append("train")
        return TrainRun(**hit)
    from .train import run_training

    _audit(ctx, "train.start", f"dataset:{dataset.name}@{dataset.version}", {"method": spec.train.method})
    try:
        run = _run(ctx, "train", key, lambda: run_training(spec, ctx.ws, dataset, resume=resume, progress=ctx.progress))
    except BaseException as exc:  # a NaN stop, a bad option, Ctrl-C: the start row gets its ending
        _audit(ctx, "train.failed", f"dataset:{dataset.name}@{dataset.version}",
               {"method": spec.train.method, "error": f"{type(exc).__name__}: {str(exc)[:500]}"})
        raise
    _audit(ctx, "train.end", f"run:{run.run_id}", {"metrics": run.metrics})
    return run


@_writer
def stage_eval(ctx: Context, dataset: DatasetVersion, run: TrainRun | None) -> EvalResult:
    spec = ctx.spec
    key = input_key({
        "dataset": dataset.version,
        "run": run.run_id if run else None,
        **section_parts(spec, STAGE_BY_NAME["eval"].reads),
        "code": __version__,
    })
    hit = _cached(ctx, "eval", key)
    if hit is not None:
        ctx.skipped.append("eval")
        return EvalResult(**hit)
    from .evaluate import run_evaluation

    ev = _run(ctx, "eval", key, lambda: run_evaluation(spec, ctx.ws, dataset, run, progress=ctx.progress))
    _audit(ctx, "eval", f"eval:{ev.eval_id}", {"passed": ev.passed, "run": run.run_id if run else None})
    return ev


@_writer
def stage_register(ctx: Context, dataset: DatasetVersion, run: TrainRun, ev: EvalResult) -> ModelVersion:
    key = input_key({"run": run.run_id, "eval": ev.eval_id, "dataset": dataset.version})
    hit = _cached(ctx, "register", key)
    if hit is not None:
        ctx.skipped.append("register")
        return ModelVersion(**hit)
    from .registry import register_model

    # register_model audits the registration itself.
    return _run(ctx, "register", key, lambda: register_model(ctx.spec, ctx.ws, dataset, run, ev))


def _version_alive(ws: Workspace, out: dict) -> bool:
    """A cached registration counts only while its version still resolves (not soft-deleted)."""
    from .registry import resolve
    from .registry.errors import RegistryError

    try:
        resolve(ws, f"{out['name']}@{out['version']}")
    except RegistryError:
        return False
    return Path(out["path"]).exists()


def wants_fine_tuned(spec: TailorSpec) -> bool:
    """Whether ``eval.systems`` asks for a system answering with the fine-tuned weights."""
    from .systems import needs_trained_model

    return needs_trained_model(spec.eval.systems)


@dataclass(frozen=True)
class Stage:
    """One row of the stage table.

    Attributes:
        name: the stage name (``run --until/--force`` take it).
        reads: the spec sections its input key hashes (with its upstream ids and file hashes).
        needs: the stages whose results it takes, for a given spec (eval needs train only when a
            fine-tuned system is asked for).
        run: ``(ctx, results so far, options) -> result``; runs the stage or reuses its cached outputs.
        outputs_exist: ``(workspace, cached outputs) -> bool``: a cached result counts only while true.
    """

    name: str
    reads: tuple[str, ...]
    needs: Callable[[TailorSpec], tuple[str, ...]]
    run: Callable[[Context, dict[str, Any], dict[str, Any]], Any]
    outputs_exist: Callable[[Workspace, dict[str, Any]], bool]


# The stage functions are looked up when a row runs (not bound here), so a test can replace one.
STAGE_TABLE: tuple[Stage, ...] = (
    Stage("data", ("data", "objective", "model.base"), lambda spec: (),
          lambda ctx, up, opts: stage_data(ctx),
          lambda ws, o: Path(o["path"], "manifest.json").exists()),
    Stage("train", TRAIN_READS, lambda spec: ("data",),
          lambda ctx, up, opts: stage_train(ctx, up["data"], resume=opts.get("resume", False)),
          lambda ws, o: Path(o["model_path"]).exists()),
    Stage("eval", ("eval", "objective", "model"),
          lambda spec: ("data", "train") if wants_fine_tuned(spec) else ("data",),
          lambda ctx, up, opts: stage_eval(ctx, up["data"], up.get("train")),
          lambda ws, o: Path(o["report_json"]).exists()),
    Stage("register", (), lambda spec: ("data", "train", "eval"),
          lambda ctx, up, opts: stage_register(ctx, up["data"], up["train"], up["eval"]),
          _version_alive),
)
STAGE_BY_NAME: dict[str, Stage] = {s.name: s for s in STAGE_TABLE}
STAGES: tuple[str, ...] = tuple(STAGE_BY_NAME)


def plan(spec: TailorSpec, until: str = "register") -> list[str]:
    """The stages to run for ``until``: it and everything it needs, transitively, in table order."""
    if until not in STAGE_BY_NAME:
        raise ValueError(f"unknown stage {until!r}; the stages are {', '.join(STAGES)}")
    todo, stack = {until}, [until]
    while stack:
        for need in STAGE_BY_NAME[stack.pop()].needs(spec):
            if need not in todo:
                todo.add(need)
                stack.append(need)
    return [s for s in STAGES if s in todo]


@dataclass
class PipelineResult:
    """The results of one :func:`run_pipeline` call (a stage not run is ``None``)."""

    dataset: DatasetVersion | None
    run: TrainRun | None
    evaluation: EvalResult | None
    model: ModelVersion | None
    ran: list[str]
    skipped: list[str]
    seconds: dict[str, float]
    total_seconds: float

    def summary(self) -> dict[str, Any]:
        """The machine-readable summary printed by ``tailorlm run --json`` (a run up to ``register``)."""
        ev = self.evaluation
        return {
            "stages": {"ran": self.ran, "skipped": self.skipped, "seconds": self.seconds},
            "total_seconds": round(self.total_seconds, 2),
            "dataset_version": self.dataset.version,
            "run_id": self.run.run_id,
            "metrics": ev.systems,
            "criteria": ev.gates,
            "passed": ev.passed,
            "model_version": self.model.ref,
            "report": ev.report_html,
        }


def run_pipeline(spec: TailorSpec, ws: Workspace | None = None, force: set[str] | None = None,
                 progress: bool = True, on_stage: Callable[[str], None] | None = None, *,
                 until: str = "register", resume: bool = False) -> PipelineResult:
    """Run the stage table up to ``until`` (data prepare → train → evaluate → register), each stage
    skipped when its inputs are unchanged and its outputs still exist.

    Args:
        force: stage names (or ``all``) to rerun even when cached; forcing a stage forces every
            stage after it (its outputs change anyway).
        on_stage: called with each stage's name before it runs (progress display).
        until: the last stage; only it and the stages it needs run.
        resume: train continues the last unfinished run with the same inputs (``train --resume``).
    """
    t0 = time.perf_counter()
    ws = ws or Workspace.for_spec(spec)
    force = set(force or ())
    for i, s in enumerate(STAGES):
        if s in force:
            force.update(STAGES[i:])
    ctx = Context(spec=spec, ws=ws, force=force, progress=progress)
    notify = on_stage or (lambda s: None)
    from .lock import project_lock

    results: dict[str, Any] = {}
    with project_lock(ws.dir):  # one lock over every stage: no other writer slips in between
        for name in plan(spec, until):
            notify(name)
            results[name] = STAGE_BY_NAME[name].run(ctx, results, {"resume": resume})
    return PipelineResult(results.get("data"), results.get("train"), results.get("eval"), results.get("register"),
                          ctx.ran, ctx.skipped, ctx.seconds, time.perf_counter() - t0)
