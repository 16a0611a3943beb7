"""``run_evaluation``: every system on the test split, scored, gated and reported.

Read top to bottom: load the test split, plan each system's prompts, generate with the base weights
(loaded once for ``base``, ``few_shot`` and ``rag``), then with the fine-tuned weights, score every
system, check the criteria, write the report folder atomically.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

from ..errors import UserError
from ..results import DatasetVersion, EvalResult, TrainRun
from .baselines import FINE_TUNED, USES_RAG, SystemPlan, plan_systems
from .gates import all_passed, evaluate_gates
from .hallucination import answer_vocabulary
from .scoring import SystemScore, score_system

log = logging.getLogger(__name__)


def load_rows(path: Path, limit: int = 0, split: str = "test") -> list[dict[str, Any]]:
    """Rows of one split as dicts; a missing or empty split is a :class:`UserError`."""
    import pandas as pd

    if not path.exists():
        raise UserError(f"{path}: the {split} split is missing. Prepare the dataset again with "
                        "'tailorlm data prepare'.")
    df = pd.read_parquet(path)
    if limit:
        df = df.head(limit)
    if df.empty:
        raise UserError(f"{path}: the {split} split is empty, so there is nothing to evaluate on. Add data, "
                        "or raise data.split.test in tailor.yaml.")
    return df.to_dict("records")


def active_systems(requested: Sequence[str], run: TrainRun | None) -> tuple[list[str], list[str]]:
    """(systems to evaluate, systems skipped because there is no trained model)."""
    keep = [s for s in requested if run is not None or s not in FINE_TUNED]
    return keep, [s for s in requested if s not in keep]


def _retriever(spec: Any, train_rows: list[dict[str, Any]]) -> Any:
    from ..rag import Retriever

    e = spec.eval
    if e.rag_documents:
        return Retriever.from_folder(str(spec.resolve(e.rag_documents)), e.rag_k, e.rag_max_chars)
    return Retriever.from_training(train_rows, e.rag_k, e.rag_max_chars)


def max_new_tokens(spec: Any, tokenizer: Any, labels: Sequence[str]) -> int:
    """``eval.max_new_tokens``, or automatic: classification = longest label in tokens + 2 (EOS and
    one spare, so an answer that runs past a label is visibly wrong rather than cut to look right)."""
    if spec.eval.max_new_tokens:
        return spec.eval.max_new_tokens
    if spec.objective.task == "classification" and labels:
        return max(len(tokenizer.encode(str(lab), add_special_tokens=False)) for lab in labels) + 2
    return 128


def _load(kind: str, spec: Any, run: TrainRun | None) -> Any:
    from ..models import load_base

    if kind == "base":
        return load_base(spec.model.base, spec.model.device, spec.model.dtype, spec.model.revision)
    from ..train import load_trained

    return load_trained(run.model_path, spec.model.device, spec.model.dtype)


def generate_all(plans: list[SystemPlan], spec: Any, run: TrainRun | None, labels: Sequence[str],
                 progress: bool) -> tuple[dict[str, list], dict[str, float]]:
    """Generations per system, loading each set of weights once; also seconds per system."""
    from ..inference import encode_chats, generate

    gens: dict[str, list] = {}
    seconds: dict[str, float] = {}
    for kind in ("base", "fine_tuned"):
        todo = [p for p in plans if p.model == kind]
        if not todo:
            continue
        loaded = _load(kind, spec, run)
        budget = max_new_tokens(spec, loaded.tokenizer, labels)
        for plan in todo:
            t0 = time.perf_counter()
            prompts = encode_chats(loaded.tokenizer, plan.chats)
            gens[plan.name] = generate(
                loaded, prompts, max_new_tokens=budget, batch_size=spec.eval.batch_size, progress=progress,
                desc=f"eval {plan.name}", prefix_cache=spec.eval.prefix_cache, autocast=spec.eval.bf16_autocast,
            )
            seconds[plan.name] = round(time.perf_counter() - t0, 2)
        del loaded
    return gens, seconds


def run_evaluation(spec: Any, ws: Any, dataset: DatasetVersion, run: TrainRun | None, *,
                   progress: bool = True) -> EvalResult:
    """Evaluate every system in ``spec.eval.systems`` on the test split and write the report.

    Args:
        spec: the parsed ``TailorSpec``.
        ws: the ``Workspace`` (reports go to ``.tailor/reports/<eval_id>/``).
        dataset: the dataset version (test split, training split for few-shot and RAG, labels).
        run: the training run, or None to evaluate the base-model systems only.
        progress: show progress bars.

    Returns:
        The :class:`~tailorlm.results.EvalResult`; ``passed`` is True when the fine-tuned system
        meets every criterion in ``spec.objective.criteria``.
    """
    from .report import write_report

    t0 = time.perf_counter()
    task = spec.objective.task
    test_rows = load_rows(dataset.split_path("test"), spec.eval.limit)
    systems, skipped = active_systems(spec.eval.systems, run)
    labels = list(spec.objective.labels or dataset.labels)
    needs_train = task != "continued_pretraining" and (
        "few_shot" in systems or (any(s in USES_RAG for s in systems) and not spec.eval.rag_documents)
        or task in ("generation", "chat"))  # generation: training answers back names (hallucination)
    train_rows = load_rows(dataset.split_path("train"), 0, "train") if needs_train else []
    if task == "continued_pretraining":
        from .perplexity import score_perplexity

        scores = score_perplexity(spec, run, systems, test_rows, progress)
        seconds: dict[str, float] = {}
    else:
        retriever = _retriever(spec, train_rows) if any(s in USES_RAG for s in systems) else None
        plans = plan_systems(systems, test_rows, train_rows, spec.objective, labels, spec.eval, retriever)
        gens, seconds = generate_all(plans, spec, run, labels, progress)
        vocab = answer_vocabulary(str(r.get("completion") or "") for r in train_rows) if task in (
            "generation", "chat") else frozenset()
        scores = {p.name: score_system(spec, p, gens[p.name], test_rows, labels, vocab) for p in plans}
    gates = {name: evaluate_gates(spec.objective.criteria, s.metrics) for name, s in scores.items()}
    passed = "fine_tuned" in gates and all_passed(gates["fine_tuned"])
    return write_report(spec, ws, dataset, run, scores, gates, passed, labels, {
        "skipped_systems": skipped,
        "system_seconds": seconds,
        "total_seconds": round(time.perf_counter() - t0, 2),
        "n_examples": len(test_rows),
    })


__all__ = ["SystemScore", "run_evaluation"]
