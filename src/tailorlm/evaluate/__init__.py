"""The evaluate stage: base, few-shot, RAG, fine-tuned and fine-tuned+RAG systems on the test split,
domain metrics, hallucination and compliance flags, acceptance gates, the report and the ROI section.

Entry points: :func:`run_evaluation` and :func:`tailorlm.evaluate.gates.evaluate_gates`.
See docs/evaluation.md.
"""

from __future__ import annotations

from .gates import evaluate_gates
from .runner import run_evaluation

__all__ = ["evaluate_gates", "run_evaluation"]
