"""The ``eval:`` section: which systems to compare and how to generate."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import Strict

System = Literal["base", "few_shot", "rag", "fine_tuned", "fine_tuned_rag"]


class PricingSpec(Strict):
    """Prices for the ROI section (currency units are the user's own)."""

    currency: str = "USD"
    per_1k_prompt_tokens: float = Field(default=0.0005, ge=0)
    per_1k_completion_tokens: float = Field(default=0.0015, ge=0)
    hourly_rate: float = Field(default=2.0, ge=0, description="compute cost per hour of training")
    requests_per_month: int = Field(default=100_000, ge=0)


class EvalSpec(Strict):
    """How models are compared on the held-out test split.

    Attributes:
        systems: which systems to evaluate side by side.
        max_new_tokens: generation budget per example.
        batch_size: examples per generation batch.
        limit: evaluate at most this many test examples (0 = all).
        few_shot_k: examples drawn from the training split for the ``few_shot`` system.
        rag_k: retrieved passages for the ``rag`` systems.
    """

    systems: list[System] = ["base", "fine_tuned"]
    max_new_tokens: int = Field(default=16, ge=1)
    batch_size: int = Field(default=32, ge=1)
    limit: int = Field(default=0, ge=0)
    few_shot_k: int = Field(default=3, ge=0)
    rag_k: int = Field(default=3, ge=1)
    rag_documents: str | None = None
    pricing: PricingSpec = PricingSpec()
