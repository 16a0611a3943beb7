"""Return on investment: what fine-tuning bought against the alternatives, in the user's currency.

Definitions (all from the evaluated test split; prices from ``eval.pricing``):

* **quality gain:** the task's primary metric (classification: accuracy; extraction: exact match;
  generation/chat: ROUGE-L; continued pretraining: perplexity, lower is better) of ``fine_tuned``
  minus that of each baseline;
* **tokens per request saved:** mean (prompt + completion) tokens of the baseline minus those of
  ``fine_tuned`` (the few-shot baseline pays for its examples on every request);
* **latency change:** p50 and p95 of ``fine_tuned`` minus the baseline's, in ms and percent;
* **cost per 1,000 requests:** ``1000 x (prompt_tokens x per_1k_prompt + completion_tokens x
  per_1k_completion) / 1000`` per system;
* **training cost:** training wall hours (``TrainRun.metrics["wall_seconds"]``) x ``hourly_rate``;
* **payback:** training cost / monthly saving against the few-shot baseline at
  ``requests_per_month`` (None when there is no saving);
* **best alternative:** the evaluated system that is not fine-tuned with the best primary metric
  (``base``, ``few_shot``, ``classical``, ``rag``); ``beats_best_alternative`` says whether the
  fine-tuned model beat it. This is the comparison that decides whether fine-tuning paid.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..systems import CANDIDATE

PRIMARY: dict[str, tuple[str, bool]] = {  # task -> (metric, higher is better)
    "classification": ("accuracy", True),
    "extraction": ("exact_match", True),
    "generation": ("rougeL", True),
    "chat": ("rougeL", True),
    "continued_pretraining": ("perplexity", False),
}


ALTERNATIVES = ("base", "few_shot", "classical", "rag")  # systems that are not fine-tuned


def cost_per_1k(metrics: Mapping[str, float], pricing: Any) -> float:
    """Serving cost of 1,000 requests at the system's mean token counts."""
    prompt = metrics.get("mean_prompt_tokens", 0.0)
    completion = metrics.get("mean_completion_tokens", 0.0)
    return prompt * pricing.per_1k_prompt_tokens + completion * pricing.per_1k_completion_tokens


def _pct(new: float, old: float) -> float | None:
    return None if not old else 100.0 * (new - old) / old


def compare(candidate: Mapping[str, float], baseline: Mapping[str, float], task: str, pricing: Any) -> dict:
    """The candidate against one baseline: quality gain, tokens saved, latency change, cost change."""
    metric, _ = PRIMARY[task]
    tok_c = candidate.get("mean_prompt_tokens", 0.0) + candidate.get("mean_completion_tokens", 0.0)
    tok_b = baseline.get("mean_prompt_tokens", 0.0) + baseline.get("mean_completion_tokens", 0.0)
    cost_c, cost_b = cost_per_1k(candidate, pricing), cost_per_1k(baseline, pricing)
    out = {
        "metric": metric,
        "quality_gain": candidate.get(metric, 0.0) - baseline.get(metric, 0.0),
        "tokens_per_request_saved": tok_b - tok_c,
        "cost_per_1k_saved": cost_b - cost_c,
        "monthly_saving": (cost_b - cost_c) / 1000.0 * pricing.requests_per_month,
    }
    for q in ("p50", "p95"):
        c, b = candidate.get(f"{q}_latency_ms", 0.0), baseline.get(f"{q}_latency_ms", 0.0)
        out[f"{q}_latency_change_ms"] = c - b
        out[f"{q}_latency_change_pct"] = _pct(c, b)
    return out


def compute_roi(systems: Mapping[str, Mapping[str, float]], task: str, pricing: Any,
                train_metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ROI section: per-system cost, the fine-tuned model against each baseline, training cost.

    Args:
        systems: ``EvalResult.systems``.
        task: ``spec.objective.task``.
        pricing: ``spec.eval.pricing``.
        train_metrics: ``TrainRun.metrics`` (None when no model was trained).
    """
    wall = float((train_metrics or {}).get("wall_seconds") or 0.0)
    training_cost = wall / 3600.0 * pricing.hourly_rate
    out: dict[str, Any] = {
        "currency": pricing.currency,
        "prices": pricing.model_dump(),
        "cost_per_1k_requests": {name: cost_per_1k(m, pricing) for name, m in systems.items()},
        "training_wall_seconds": wall,
        "training_steps": (train_metrics or {}).get("steps"),
        "planned_steps": (train_metrics or {}).get("planned_steps"),
        "training_cost": training_cost,
        "vs": {},
        "payback_months": None,
    }
    cand = systems.get(CANDIDATE)
    if cand is None:
        return out
    for name in ALTERNATIVES:
        if name in systems:
            out["vs"][name] = compare(cand, systems[name], task, pricing)
    metric, higher = PRIMARY[task]
    scored = [n for n in out["vs"] if systems[n].get(metric) is not None]
    if scored:
        best = (max if higher else min)(scored, key=lambda n: systems[n][metric])
        gain = out["vs"][best]["quality_gain"]
        out["best_alternative"] = {"system": best, "metric": metric, "value": systems[best][metric],
                                   "fine_tuned": cand.get(metric), "gain": gain,
                                   "beats_best_alternative": bool(gain > 0 if higher else gain < 0)}
    ref = out["vs"].get("few_shot") or out["vs"].get("base")
    if ref and ref["monthly_saving"] > 0:
        out["payback_months"] = training_cost / ref["monthly_saving"]
    return out
