"""Is the fine-tuned model's lead real? A paired bootstrap of the primary metric's difference.

Both systems answered the same test examples, so the difference is resampled by example: draw the
test set with replacement ``n`` times (seeded), take the mean per-example score difference each time,
and report the 2.5th and 97.5th percentiles. An interval above 0 means the lead survives the test
set's sampling noise; one that straddles 0 means "not shown on this test set".

Per-example scores: classification and extraction, 1 for a correct answer (the mean is accuracy /
exact match); generation and chat, the answer's ROUGE-L F1 against its reference (the mean is the
reported ``rougeL``). Continued pretraining has no per-example score here.

Generation and chat also get the interval of a second metric that does not count shared words, the
answers' embedding similarity to their references (:data:`SECONDARY`), so a lead in ROUGE-L that
comes from copying phrasing without the meaning shows up as a gap between the two.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..systems import CANDIDATE

N_BOOT = 2000
# Metrics with a per-example interval beside the primary one, per task.
SECONDARY: dict[str, tuple[str, ...]] = {"generation": ("embedding_similarity",), "chat": ("embedding_similarity",)}


def per_example(task: str, records: Sequence[dict[str, Any]]) -> list[float] | None:
    """Each example's score under the task's primary metric, in test order (None: not defined)."""
    if task in ("classification", "extraction"):
        return [float(bool(r.get("correct"))) for r in records]
    if task in ("generation", "chat"):
        from rouge_score import rouge_scorer

        from .metrics import UnicodeTokenizer

        scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=UnicodeTokenizer())
        return [scorer.score(str(r.get("reference") or ""), str(r.get("prediction") or ""))["rougeL"].fmeasure
                for r in records]
    return None


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n: int = N_BOOT, seed: int = 0) -> dict[str, float]:
    """Mean of ``a - b`` and its 95% paired-bootstrap interval (``low``, ``high``)."""
    x = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if x.size == 0:
        return {"diff": 0.0, "low": 0.0, "high": 0.0, "n": 0}
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n, x.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"diff": float(x.mean()), "low": float(low), "high": float(high), "n": int(x.size)}


def versus_fine_tuned(task: str, scores: dict[str, Any], seed: int = 0) -> dict[str, dict[str, float]]:
    """``fine_tuned`` minus each other system, with its interval; empty without a fine-tuned system."""
    if CANDIDATE not in scores:
        return {}
    if per_example(task, []) is None:  # the task has no per-example score
        return {}
    out = {}
    for name, s in scores.items():
        if name == CANDIDATE:
            continue
        mine, theirs = shared_records(scores[CANDIDATE].records, s.records)
        if theirs:
            out[name] = paired_bootstrap(per_example(task, mine), per_example(task, theirs), seed=seed)
    return out


def shared_records(mine: Sequence[dict[str, Any]], theirs: Sequence[dict[str, Any]]) -> tuple[list, list]:
    """The records of the test examples both systems answered, paired by example id in ``mine``'s
    order (a system answering a sample, ``eval.reference_rows``, is compared on that sample)."""
    by_id = {str(r.get("id")): r for r in theirs}
    pairs = [(r, by_id[str(r.get("id"))]) for r in mine if str(r.get("id")) in by_id]
    return [a for a, _ in pairs], [b for _, b in pairs]


def per_example_metric(metric: str, records: Sequence[dict[str, Any]]) -> list[float]:
    """Each example's score under a :data:`SECONDARY` metric, in test order."""
    from .metrics import embedding_similarities

    if metric != "embedding_similarity":
        raise ValueError(f"no per-example form of {metric}")
    return embedding_similarities([str(r.get("prediction") or "") for r in records],
                                  [str(r.get("reference") or "") for r in records])


def secondary_versus_fine_tuned(task: str, scores: dict[str, Any], seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """``{metric: {system: interval}}``: the fine-tuned model's lead in each :data:`SECONDARY` metric."""
    if CANDIDATE not in scores:
        return {}
    out: dict[str, dict[str, dict[str, float]]] = {}
    for metric in SECONDARY.get(task, ()):
        out[metric] = {}
        for name, s in scores.items():
            mine, theirs = shared_records(scores[CANDIDATE].records, s.records)
            if name != CANDIDATE and theirs:
                out[metric][name] = paired_bootstrap(per_example_metric(metric, mine),
                                                     per_example_metric(metric, theirs), seed=seed)
    return out
