"""Score one system's generations: quality metrics, hallucination and compliance flags, latency, tokens.

The flat ``metrics`` dict is what criteria are checked against (``EvalResult.systems[name]``);
``records`` are the per-example rows of predictions.jsonl.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from ..prompting import normalize_answer
from ..rag.index import example_query
from .compliance import build_rules, check_answers, pii_findings, summarize
from .hallucination import extractor_name, hallucination_flags
from .metrics import example_correct, per_class_report, percentile, quality_metrics

if TYPE_CHECKING:
    from ..spec import TailorSpec
    from .baselines import SystemPlan

log = logging.getLogger(__name__)


@dataclass
class SystemScore:
    """Everything the report needs about one system.

    Attributes:
        name: system name.
        metrics: flat metric name -> number (criteria are checked against it).
        records: per-example rows for predictions.jsonl.
        classes: per-class precision/recall/F1 and the confusion matrix (classification, extraction).
        compliance: per rule, the violation count and example ids.
        notes: how flags were computed (hallucination extractor, skipped checks).
        calibration: reliability bins of systems that give probabilities (see
            :mod:`tailorlm.evaluate.calibration`), else ``None``.
    """

    name: str
    metrics: dict[str, float]
    records: list[dict[str, Any]]
    classes: dict[str, Any] | None = None
    compliance: dict[str, dict] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    calibration: list[dict] | None = None


@functools.lru_cache(maxsize=2)
def _pii_spec_json_scan(pii_json: str, answers: tuple[str, ...]) -> list[list[str]]:
    from ..spec.data import PIISpec

    return pii_findings(list(answers), PIISpec.model_validate_json(pii_json))


def pii_flags(spec: TailorSpec, answers: Sequence[str], labels: Sequence[str], notes: list[str]) -> list[list[str]] | None:
    """PII found in each answer by the data stage's scrubber, or None when the check is off/unavailable.

    An answer that is exactly one of the labels is not scanned: the label set is the allowed
    vocabulary (NER would otherwise read ``loan_inquiry`` as a person's name).
    """
    if not spec.eval.compliance.pii:
        return None
    allowed = {normalize_answer(x) for x in labels}
    scan = tuple("" if allowed and normalize_answer(a) in allowed else a for a in answers)
    try:
        return _pii_spec_json_scan(spec.data.pii.model_dump_json(), scan)
    except ImportError as exc:  # the data stage's scrubber (Presidio/spaCy) is not installed
        notes.append(f"PII-in-output check skipped: the PII scrubber could not be loaded ({exc}).")
        log.warning(notes[-1])
        return None


def latency_metrics(latencies: Sequence[float], prompt_tokens: Sequence[int], completion_tokens: Sequence[int]) -> dict:
    n = max(len(latencies), 1)
    return {
        "p50_latency_ms": percentile(latencies, 50),
        "p95_latency_ms": percentile(latencies, 95),
        "p99_latency_ms": percentile(latencies, 99),
        "mean_latency_ms": sum(latencies) / n,
        "mean_prompt_tokens": sum(prompt_tokens) / n,
        "mean_completion_tokens": sum(completion_tokens) / n,
    }


def score_system(spec: TailorSpec, plan: SystemPlan, gens: Sequence[Any], rows: Sequence[dict[str, Any]],
                 labels: Sequence[str], vocabulary: frozenset[str] = frozenset()) -> SystemScore:
    """Score one system (a :class:`~tailorlm.evaluate.baselines.SystemPlan` and its generations).

    ``vocabulary``: words of the training answers, which back names in free-text answers (see
    :func:`tailorlm.evaluate.hallucination.answer_vocabulary`).
    """
    task = spec.objective.task
    preds = [g.text for g in gens]
    refs = [str(r.get("completion") or "") for r in rows]
    notes: list[str] = []
    metrics = quality_metrics(task, preds, refs, labels)
    supports = [
        "\n".join([ref, example_query(row), *(text for _, text in ctx)])
        for ref, row, ctx in zip(refs, rows, plan.contexts)
    ]
    hall = hallucination_flags(task, preds, labels, supports, vocabulary)
    if task != "classification":
        notes.append(f"hallucination claims extracted with {extractor_name()}")
    rules = build_rules(spec.eval.compliance)
    flags = check_answers(preds, rows, rules, pii_flags(spec, preds, labels, notes))
    n = len(rows)
    metrics["hallucination_rate"] = sum(h for h, _ in hall) / n
    metrics["compliance_violation_rate"] = sum(bool(f) for f in flags) / n
    metrics.update(latency_metrics([g.latency_ms for g in gens], [g.prompt_tokens for g in gens],
                                   [g.completion_tokens for g in gens]))
    metrics["unfinished_rate"] = sum(not g.finished for g in gens) / n
    records = [
        {
            "system": plan.name,
            "id": str(row.get("id")),
            "input": example_query(row),
            "prediction": g.text,
            "reference": ref,
            "correct": example_correct(task, g.text, ref),
            "hallucination": h[0],
            "hallucination_reasons": h[1],
            "compliance": f,
            "latency_ms": round(g.latency_ms, 3),
            "prompt_tokens": g.prompt_tokens,
            "completion_tokens": g.completion_tokens,
            "finished": g.finished,
            "context_ids": [cid for cid, _ in ctx],
        }
        for row, g, ref, h, f, ctx in zip(rows, gens, refs, hall, flags, plan.contexts)
    ]
    classes = per_class_report(preds, refs, labels) if task in ("classification", "extraction") and labels else None
    ids = [str(r.get("id")) for r in rows]
    bins = add_confidence(spec, task, gens, records, metrics, notes)
    return SystemScore(plan.name, {k: float(v) for k, v in metrics.items()}, records, classes,
                       summarize(flags, ids, rule_names=list(rules)), notes, bins)


def add_confidence(spec: TailorSpec, task: str, gens: Sequence[Any], records: list[dict], metrics: dict,
                   notes: list[str]) -> list[dict] | None:
    """Calibration and abstention metrics (and per-record probability, top labels, routed) for a
    system whose answers carry probabilities; returns its reliability bins (``None`` otherwise)."""
    from .calibration import confidence_metrics, reliability_bins

    conf = [getattr(g, "probability", None) for g in gens]
    if task != "classification" or not conf or any(c is None for c in conf):
        if spec.objective.min_confidence and task == "classification":
            notes.append("objective.min_confidence not applied: this system's answers carry no probability "
                         "(eval.label_decoding: free).")
        return None
    correct = [bool(r["correct"]) for r in records]
    metrics.update(confidence_metrics(conf, correct, spec.objective.min_confidence))
    for rec, g, c in zip(records, gens, conf):
        top = sorted(g.probs.items(), key=lambda kv: -kv[1])[:3]
        rec.update(probability=round(c, 6), top_labels=[[k, round(v, 6)] for k, v in top],
                   routed=c < spec.objective.min_confidence)
    return reliability_bins(conf, correct)
