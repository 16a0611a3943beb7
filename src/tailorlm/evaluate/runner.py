"""``run_evaluation``: every system on the test split, scored, gated and reported.

Read top to bottom: load the test split, plan each system's prompts, generate with the base weights
(loaded once for ``base``, ``few_shot`` and ``rag``), then with the fine-tuned weights, score every
system, check the criteria, write the report folder atomically.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import UserError
from ..results import DatasetVersion, EvalResult, TrainRun
from ..systems import CANDIDATE, WEIGHTS
from .answers import NOT_FOR_CLASSIFIER, run_head
from .baselines import BASE_PROMPTED, FINE_TUNED, USES_RAG, SystemPlan, plan_systems
from .gates import all_passed, evaluate_gates
from .hallucination import answer_vocabulary
from .scoring import SystemScore, score_system
from .significance import secondary_versus_fine_tuned, versus_fine_tuned

if TYPE_CHECKING:
    from ..spec import TailorSpec
    from ..workspace import Workspace

log = logging.getLogger(__name__)
ANSWER_SAMPLE = 2000  # training answers measured for the automatic generation budget


def stratified_sample(labels: Sequence[Any], limit: int, seed: int = 0) -> list[int]:
    """Indices (ascending) of a seeded sample of ``limit`` rows, stratified by label.

    Each label contributes in proportion to its share (systematic sampling inside the label, after a
    seeded shuffle), and every label contributes at least one row when ``limit`` is at least the
    number of labels, so a test file sorted by label is still covered across all labels.
    """
    import numpy as np

    n = len(labels)
    if not limit or limit >= n:
        return list(range(n))
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(str(lab), []).append(i)
    keys = np.empty(n)
    for members in groups.values():
        order = rng.permutation(len(members))
        for rank, k in enumerate(order):
            # first member of every label sorts before everything else; the rest by position in its label
            keys[members[k]] = -1.0 + rng.random() * 1e-3 if rank == 0 else (rank + rng.random()) / len(members)
    return sorted(int(i) for i in np.argsort(keys, kind="stable")[:limit])


def load_rows(path: Path, limit: int = 0, split: str = "test", order: str = "stratified",
              seed: int = 0) -> list[dict[str, Any]]:
    """Rows of one split as dicts; a missing or empty split is a :class:`UserError`.

    ``limit`` keeps that many rows: a seeded sample stratified by label (``order: stratified``), or
    the first ones in file order (``order: source``).
    """
    import pandas as pd

    if not path.exists():
        raise UserError(f"{path}: the {split} split is missing. Prepare the dataset again with "
                        "'tailorlm data prepare'.")
    df = pd.read_parquet(path)
    if limit and order == "source":
        df = df.head(limit)
    elif limit:
        by = df["label"] if "label" in df and df["label"].notna().any() else df.get("completion", df.index)
        df = df.iloc[stratified_sample(list(by), limit, seed)]
    if df.empty:
        raise UserError(f"{path}: the {split} split is empty, so there is nothing to evaluate on. Add data, "
                        "or raise data.split.test in tailor.yaml.")
    return df.to_dict("records")


def active_systems(requested: Sequence[str], run: TrainRun | None) -> tuple[list[str], list[str]]:
    """(systems to evaluate, systems skipped because there is no trained model)."""
    keep = [s for s in requested if run is not None or s not in FINE_TUNED]
    return keep, [s for s in requested if s not in keep]


def _retriever(spec: TailorSpec, train_rows: list[dict[str, Any]]) -> Any:
    from ..rag import Retriever

    e = spec.eval
    if e.rag_documents:
        return Retriever.from_folder(str(spec.resolve(e.rag_documents)), e.rag_k, e.rag_max_chars)
    return Retriever.from_training(train_rows, e.rag_k, e.rag_max_chars)


def max_new_tokens(spec: TailorSpec, tokenizer: Any, labels: Sequence[str],
                   answers: Sequence[str] = ()) -> int:
    """``eval.max_new_tokens``, or automatic: classification = longest label in tokens + 2 (EOS and
    one spare, so an answer that runs past a label is visibly wrong rather than cut to look right);
    other tasks with training answers = 1.2x their 99th-percentile length in tokens (so a fine-tuned
    answer as long as the references is not cut, and a rambling one stops near that length), at
    least 32 and at most ``data.max_seq_len``; 128 without training answers."""
    if spec.eval.max_new_tokens:
        return spec.eval.max_new_tokens
    if spec.objective.task == "classification" and labels:
        return max(len(tokenizer.encode(str(lab), add_special_tokens=False)) for lab in labels) + 2
    texts = [a for a in answers if a][:ANSWER_SAMPLE]
    if not texts:
        return 128
    lengths = sorted(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
    p99 = lengths[min(len(lengths) - 1, int(0.99 * len(lengths)))]
    return int(min(spec.data.max_seq_len, max(32, math.ceil(1.2 * p99))))


def load_weights(kind: str, spec: TailorSpec, run: TrainRun | None) -> Any:
    """The weights a system answers with: ``base`` (``model.base``) or ``fine_tuned`` (``run``'s artifact)."""
    from ..models import load_base
    from ..models.precision import for_inference

    if kind == "base":
        loaded = load_base(spec.model.base, spec.model.device, spec.model.dtype, spec.model.revision,
                           spec.model.download)
    else:
        from ..models.trained import load_trained

        loaded = load_trained(run.model_path, spec.model.device, spec.model.dtype)
    return for_inference(loaded, spec.eval.bf16_autocast)


def fine_tuned_lists_labels(run: TrainRun | None) -> bool:
    """The trained version's prompt recipe: did its training prompts list the labels? (Artifacts made
    before recipes were stored always did.)"""
    if run is None:
        return True
    from ..models.trained import read_provenance

    try:
        recipe = read_provenance(run.model_path).get("prompt_recipe") or {}
    except (OSError, ValueError):
        return True
    return bool(recipe.get("labels_in_prompt", True))


def fine_tuned_shots(run: TrainRun | None, test_rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]] | None:
    """Per test row, the training examples the version's prompt recipe shows before the message (its
    ``retrieved_examples`` nearest rows from its stored ``retrieval_examples.jsonl``); None without."""
    from .answers import stored_recipe

    k = int(stored_recipe(run).get("retrieved_examples") or 0) if run is not None else 0
    if k <= 0:
        return None
    from ..rag import ExampleIndex

    try:
        return ExampleIndex.load(run.model_path).nearest(test_rows, k)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None


REFERENCE_SAMPLE = 100  # eval.reference_rows for generation and chat when unset
SAMPLED_TASKS = ("generation", "chat")


def reference_rows(spec: TailorSpec, test_rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The seeded sample of test rows the base model's prompted systems answer (``eval.reference_rows``),
    in test order; None when they answer every row."""
    import random

    n = spec.eval.reference_rows
    if n is None:
        n = REFERENCE_SAMPLE if spec.objective.task in SAMPLED_TASKS else 0
    if not n or n >= len(test_rows):
        return None
    keep = sorted(random.Random(spec.eval.seed).sample(range(len(test_rows)), n))
    return [test_rows[i] for i in keep]


def answer_classical(spec: TailorSpec, dataset: DatasetVersion, train_rows: list[dict[str, Any]],
                     test_rows: list[dict[str, Any]]) -> tuple[list, dict[str, Any]]:
    """The ``classical`` system's answers (scikit-learn, no LLM) and how it was fitted."""
    from .classical import classical_answers

    val_path = dataset.split_path("validation")
    val_rows = load_rows(val_path, 0, "validation") if spec.objective.task == "classification" and val_path.exists() \
        and _non_empty(val_path) else []
    return classical_answers(spec.objective.task, train_rows, val_rows, test_rows, spec.eval.seed)


def _non_empty(path: Path) -> bool:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows > 0


def generate_all(plans: list[SystemPlan], spec: TailorSpec, run: TrainRun | None, labels: Sequence[str],
                 progress: bool, answers: Sequence[str] = ()) -> tuple[dict[str, list], dict[str, float]]:
    """Generations per system, loading each set of weights once; also seconds per system.
    ``answers``: the training answers, which set the automatic generation budget."""
    from .answers import answer_plan

    gens: dict[str, list] = {}
    seconds: dict[str, float] = {}
    for kind in WEIGHTS:
        todo = [p for p in plans if p.model == kind]
        if not todo:
            continue
        loaded = load_weights(kind, spec, run)
        budget = max_new_tokens(spec, loaded.tokenizer, labels, answers)
        for plan in todo:
            t0 = time.perf_counter()
            gens[plan.name] = answer_plan(loaded, plan, spec, labels, budget, progress, run)
            seconds[plan.name] = round(time.perf_counter() - t0, 2)
        del loaded
    return gens, seconds


def add_times(scores: dict[str, SystemScore], seconds: dict[str, float], run: TrainRun | None,
              classical_info: dict[str, Any]) -> None:
    """``train_seconds`` (fine-tuning wall time; the classical model's fit) and ``eval_seconds`` (answering
    the test split) per system, so the report shows what each result cost."""
    for name, score in scores.items():
        if name in FINE_TUNED and run is not None:
            score.metrics["train_seconds"] = float(run.metrics.get("wall_seconds") or 0.0)
        elif name == "classical":
            score.metrics["train_seconds"] = float(classical_info.get("fit_seconds") or 0.0)
        else:
            score.metrics["train_seconds"] = 0.0
        if name in seconds:
            score.metrics["eval_seconds"] = float(seconds[name])


def answer_and_score(spec: TailorSpec, dataset: DatasetVersion, run: TrainRun | None, systems: list[str],
                     test_rows: list[dict[str, Any]], train_rows: list[dict[str, Any]], labels: list[str],
                     progress: bool) -> tuple[dict[str, SystemScore], dict[str, float], dict[str, Any]]:
    """Every system's answers on the test rows, scored: (scores, seconds per system, classical fit info)."""
    task = spec.objective.task
    retriever = _retriever(spec, train_rows) if any(s in USES_RAG for s in systems) else None
    shots = fine_tuned_shots(run, test_rows) if any(s in FINE_TUNED for s in systems) else None
    sample = reference_rows(spec, test_rows)
    sampled = [s for s in systems if sample is not None and s in BASE_PROMPTED]
    rows_of = {s: sample if s in sampled else test_rows for s in systems}
    plans = plan_systems([s for s in systems if s not in sampled], test_rows, train_rows, spec.objective, labels,
                         spec.eval, retriever, fine_tuned_lists_labels(run), shots)
    if sampled:
        plans += plan_systems(sampled, sample, train_rows, spec.objective, labels, spec.eval, retriever)
    plans.sort(key=lambda p: systems.index(p.name))
    answers = [str(r.get("completion") or "") for r in train_rows] if task != "classification" else []
    gens, seconds = generate_all(plans, spec, run, labels, progress, answers)
    classical_info: dict[str, Any] = {}
    if "classical" in systems:
        t1 = time.perf_counter()
        gens["classical"], classical_info = answer_classical(spec, dataset, train_rows, test_rows)
        seconds["classical"] = round(time.perf_counter() - t1, 2)
    # generation: names in the training answers back an answer's names (hallucination)
    vocab = answer_vocabulary(str(r.get("completion") or "") for r in train_rows) if task in (
        "generation", "chat") else frozenset()
    scores = {p.name: score_system(spec, p, gens[p.name], rows_of[p.name], labels, vocab) for p in plans}
    for name in sampled:
        scores[name].notes.append(
            f"answered a seeded sample of {len(sample)} of the {len(test_rows)} test examples (eval.reference_rows); "
            "its intervals against fine_tuned use those examples")
    return scores, seconds, classical_info


def run_evaluation(spec: TailorSpec, ws: Workspace, dataset: DatasetVersion, run: TrainRun | None, *,
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
    classical_info: dict[str, Any] = {}
    test_rows = load_rows(dataset.split_path("test"), spec.eval.limit, order=spec.eval.limit_order, seed=spec.eval.seed)
    systems, skipped = active_systems(spec.eval.systems, run)
    reasons = {s: "no trained model" for s in skipped}
    if run_head(run) == "classifier":
        reasons.update({s: why for s, why in NOT_FOR_CLASSIFIER.items() if s in systems})
        systems = [s for s in systems if s not in NOT_FOR_CLASSIFIER]
        skipped = [s for s in spec.eval.systems if s not in systems]
    labels = list(spec.objective.labels or dataset.labels)
    needs_train = task != "continued_pretraining" and (
        "few_shot" in systems or "classical" in systems
        or (any(s in USES_RAG for s in systems) and not spec.eval.rag_documents)
        or task in ("generation", "chat"))  # generation: training answers back names (hallucination)
    train_rows = load_rows(dataset.split_path("train"), 0, "train") if needs_train else []
    if task == "continued_pretraining":
        from .perplexity import score_perplexity

        scores, seconds = score_perplexity(spec, run, systems, test_rows, progress), {}
    else:
        scores, seconds, classical_info = answer_and_score(spec, dataset, run, systems, test_rows, train_rows,
                                                           labels, progress)
    add_times(scores, seconds, run, classical_info)
    every = {name: s.metrics for name, s in scores.items()}
    gates = {name: evaluate_gates(spec.objective.criteria, s.metrics, every) for name, s in scores.items()}
    passed = CANDIDATE in gates and all_passed(gates[CANDIDATE])
    significance = versus_fine_tuned(task, scores, spec.eval.seed) if task != "continued_pretraining" else {}
    return write_report(spec, ws, dataset, run, scores, gates, passed, labels, {
        "significance": significance,
        "significance_secondary": secondary_versus_fine_tuned(task, scores, spec.eval.seed),
        "skipped_systems": skipped,
        "skipped_reasons": reasons,
        "system_seconds": seconds,
        **({"classical": classical_info} if classical_info else {}),
        "total_seconds": round(time.perf_counter() - t0, 2),
        "n_examples": len(test_rows),
        "system_examples": {name: len(s.records) for name, s in scores.items()},
    })


__all__ = ["SystemScore", "run_evaluation"]
