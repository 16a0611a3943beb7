"""Run the stages in order, skipping any stage whose inputs did not change.

Each stage has an *input key*: a hash of the spec sections it reads, the upstream stage's output id
and the content hashes of any files it reads. The key and the stage's outputs are stored in the
``stage_cache`` table; an unchanged key whose outputs still exist means the stage is skipped.
Forcing a stage reruns it and, since its outputs change, everything downstream.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .artifacts import sha256_file, sha256_json
from .results import DatasetVersion, EvalResult, ModelVersion, TrainRun
from .spec import TailorSpec
from .workspace import Workspace

STAGES = ("data", "train", "eval", "register")


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


def _cached(ctx: Context, stage: str, key: str, exists: Callable[[dict], bool]) -> dict | None:
    if ctx.forced(stage):
        return None
    out = ctx.ws.store.cached_stage(stage, key)
    if out is not None and exists(out):
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
    from .data.write import version_section  # data.* less num_proc/batch_size (speed, not content)

    spec = ctx.spec
    key = sha256_json({
        "data": version_section(spec),
        "objective": spec.section_dict("objective"),
        "tokenizer": spec.model.base,
        "sources": source_hashes(spec),
        "code": __version__,
    })
    hit = _cached(ctx, "data", key, lambda o: Path(o["path"], "manifest.json").exists())
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
    key = sha256_json({
        "dataset": dataset.version,
        "train": spec.section_dict("train"),
        "model": spec.section_dict("model"),
        "objective": spec.section_dict("objective"),
        "code": __version__,
    })
    hit = _cached(ctx, "train", key, lambda o: Path(o["model_path"]).exists())
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
    key = sha256_json({
        "dataset": dataset.version,
        "run": run.run_id if run else None,
        "eval": spec.section_dict("eval"),
        "objective": spec.section_dict("objective"),
        "model": spec.section_dict("model"),
        "code": __version__,
    })
    hit = _cached(ctx, "eval", key, lambda o: Path(o["report_json"]).exists())
    if hit is not None:
        ctx.skipped.append("eval")
        return EvalResult(**hit)
    from .evaluate import run_evaluation

    ev = _run(ctx, "eval", key, lambda: run_evaluation(spec, ctx.ws, dataset, run, progress=ctx.progress))
    _audit(ctx, "eval", f"eval:{ev.eval_id}", {"passed": ev.passed, "run": run.run_id if run else None})
    return ev


@_writer
def stage_register(ctx: Context, dataset: DatasetVersion, run: TrainRun, ev: EvalResult) -> ModelVersion:
    key = sha256_json({"run": run.run_id, "eval": ev.eval_id, "dataset": dataset.version})
    hit = _cached(ctx, "register", key, lambda o: _version_alive(ctx.ws, o))
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


@dataclass
class PipelineResult:
    dataset: DatasetVersion
    run: TrainRun
    evaluation: EvalResult
    model: ModelVersion
    ran: list[str]
    skipped: list[str]
    seconds: dict[str, float]
    total_seconds: float

    def summary(self) -> dict[str, Any]:
        """The machine-readable summary printed by ``tailorlm run --json``."""
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
                 progress: bool = True, on_stage: Callable[[str], None] | None = None) -> PipelineResult:
    """data prepare → train → evaluate → register, each skipped when its inputs are unchanged."""
    t0 = time.perf_counter()
    ws = ws or Workspace.for_spec(spec)
    force = set(force or ())
    # Forcing a stage forces everything after it (its outputs change anyway; be explicit).
    for i, s in enumerate(STAGES):
        if s in force:
            force.update(STAGES[i:])
    ctx = Context(spec=spec, ws=ws, force=force, progress=progress)
    notify = on_stage or (lambda s: None)
    from .lock import project_lock

    with project_lock(ws.dir):
        ds, run, ev, mv = _stages(ctx, notify)
    return PipelineResult(ds, run, ev, mv, ctx.ran, ctx.skipped, ctx.seconds, time.perf_counter() - t0)


def _stages(ctx: Context, notify: Callable[[str], None]):
    notify("data")
    ds = stage_data(ctx)
    notify("train")
    run = stage_train(ctx, ds)
    notify("eval")
    ev = stage_eval(ctx, ds, run)
    notify("register")
    mv = stage_register(ctx, ds, run, ev)
    return ds, run, ev, mv
