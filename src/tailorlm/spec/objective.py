"""The ``objective:`` section: what the model is for and what it must achieve to ship."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import CriteriaMixin

TaskType = Literal["classification", "extraction", "generation", "chat", "continued_pretraining"]


class ObjectiveSpec(CriteriaMixin):
    """What the fine-tuned model must do.

    Attributes:
        task: the task type; decides the prompt format, the metrics and the gates.
        instruction: the instruction given to the model (system prompt). For classification
            the label set is appended automatically.
        labels: the allowed labels (classification). Empty means "read them from the data".
        criteria: acceptance criteria, e.g. ``["accuracy >= 0.85", "p95_latency_ms <= 800"]``.
        min_confidence: classification: an answer whose probability is below this is not given but
            routed to a human; the report counts them (``routed_rate``) and scores the rest
            (``answered_accuracy``). 0 routes nothing.
    """

    task: TaskType = "classification"
    instruction: str = Field(
        default="Classify the customer message. Answer with the intent label only."
    )
    labels: list[str] = []
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
