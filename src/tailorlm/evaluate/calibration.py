"""Calibration and abstention for systems that give a probability with each answer.

* **Expected calibration error** (ECE, Guo et al. 2017): answers are put in ``n_bins`` equal-width
  bins by their confidence; ECE is the support-weighted mean of ``|accuracy - mean confidence|``
  over the bins. 0 means "when the model says 80%, it is right 80% of the time".
* **Abstention** (``objective.min_confidence``): an answer below the threshold is not given but
  routed to a human. ``routed_rate`` is the share routed; ``answered_accuracy`` the accuracy of the
  answers that were given (1.0 when every answer is routed: nothing wrong was said).

Each function is pure: plain lists in, numbers out.
"""

from __future__ import annotations

from typing import Sequence


def reliability_bins(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> list[dict]:
    """Per non-empty bin: ``lo``, ``hi``, ``count``, mean ``confidence`` and ``accuracy``."""
    bins: list[list[tuple[float, bool]]] = [[] for _ in range(n_bins)]
    for c, ok in zip(confidence, correct):
        bins[min(int(float(c) * n_bins), n_bins - 1)].append((float(c), bool(ok)))
    out = []
    for i, b in enumerate(bins):
        if b:
            out.append({"lo": i / n_bins, "hi": (i + 1) / n_bins, "count": len(b),
                        "confidence": sum(c for c, _ in b) / len(b), "accuracy": sum(ok for _, ok in b) / len(b)})
    return out


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> float:
    """Support-weighted mean gap between confidence and accuracy over equal-width bins (0 is perfect)."""
    n = len(confidence)
    if not n:
        return 0.0
    return sum(b["count"] / n * abs(b["accuracy"] - b["confidence"]) for b in reliability_bins(confidence, correct, n_bins))


def abstention(confidence: Sequence[float], correct: Sequence[bool], min_confidence: float) -> dict[str, float]:
    """``routed_count``/``routed_rate`` below ``min_confidence`` and the ``answered_accuracy`` of the rest."""
    routed = [c < min_confidence for c in confidence]
    kept = [ok for ok, r in zip(correct, routed) if not r]
    n = max(len(confidence), 1)
    return {"routed_count": float(sum(routed)), "routed_rate": sum(routed) / n,
            "answered_accuracy": sum(kept) / len(kept) if kept else 1.0}


def confidence_metrics(confidence: Sequence[float], correct: Sequence[bool], min_confidence: float) -> dict[str, float]:
    """Every calibration and abstention metric of one system (the keys criteria can name)."""
    n = max(len(confidence), 1)
    return {"expected_calibration_error": expected_calibration_error(confidence, correct),
            "mean_confidence": sum(confidence) / n, **abstention(confidence, correct, min_confidence)}
