"""The ``eval:`` section: which systems to compare, how to generate, compliance rules, ROI prices."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..systems import SYSTEMS
from .common import Strict

System = Literal["base", "few_shot", "classical", "rag", "fine_tuned", "fine_tuned_rag"]
ALL_SYSTEMS: tuple[str, ...] = tuple(SYSTEMS)  # the system table; System above lists the same names
# What ``eval.systems`` means when tailor.yaml leaves it out: the fine-tuned model against the base
# model, prompting, and the classical floor a sceptic would run first.
DEFAULT_SYSTEMS: dict[str, list[str]] = {
    "classification": ["base", "few_shot", "classical", "fine_tuned"],
    "extraction": ["base", "few_shot", "classical", "fine_tuned"],
    "generation": ["base", "classical", "fine_tuned"],
    "chat": ["base", "classical", "fine_tuned"],
    "continued_pretraining": ["base", "fine_tuned"],
}


class PricingSpec(Strict):
    """Prices for the ROI section (currency units are the user's own).

    Attributes:
        per_1k_prompt_tokens / per_1k_completion_tokens: serving price per 1,000 tokens.
        hourly_rate: compute cost of one hour of training (training cost = wall hours x rate).
        requests_per_month: volume used to express savings per month.
    """

    currency: str = "USD"
    per_1k_prompt_tokens: float = Field(default=0.0005, ge=0)
    per_1k_completion_tokens: float = Field(default=0.0015, ge=0)
    hourly_rate: float = Field(default=2.0, ge=0, description="compute cost per hour of training")
    requests_per_month: int = Field(default=100_000, ge=0)


class ComplianceSpec(Strict):
    """Rules every answer must follow; violations are counted per rule with examples.

    Attributes:
        forbidden: regular expressions (case-insensitive) that must not occur in an answer.
        required: regular expressions (case-insensitive) that must occur in every answer
            (e.g. a disclaimer).
        max_chars: longest allowed answer in characters (0 = no limit).
        pii: scan answers for PII with the data stage's scrubber (entities from ``data.pii``).
        custom: names of rule functions registered under the entry point group
            ``tailorlm.compliance_rules`` (each ``fn(answer: str, example: dict) -> str | None``,
            returning a violation message or None).
    """

    forbidden: list[str] = []
    required: list[str] = []
    max_chars: int = Field(default=0, ge=0)
    pii: bool = True
    custom: list[str] = []

    @field_validator("forbidden", "required")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        import re

        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"pattern {p!r} is not a valid regular expression ({exc}); escape special "
                                 "characters such as . ( ) with a backslash") from None
        return patterns


class ReviewSpec(Strict):
    """Blind human review (``tailorlm review export``).

    Attributes:
        sample: pairs to export (0 = every test example).
        seed: seed for the sample and the A/B order.
        baseline / candidate: the two systems compared.
    """

    sample: int = Field(default=50, ge=0)
    seed: int = 0
    baseline: System = "base"
    candidate: System = "fine_tuned"


class EvalSpec(Strict):
    """How models are compared on the held-out test split.

    Attributes:
        systems: which systems to evaluate side by side; default per task (classification:
            ``[base, few_shot, classical, fine_tuned]``; generation and chat: ``[base, classical,
            fine_tuned]``; continued pretraining: ``[base, fine_tuned]``). ``classical`` is TF-IDF
            word and character n-grams with a logistic regression for classification, and the
            nearest training answer (TF-IDF retrieval) for generation, chat and extraction.
        max_new_tokens: generation budget per example; 0 = automatic (classification: the longest
            label's tokens + 2; other tasks: 1.2x the 99th-percentile training answer in tokens, at
            least 32, at most ``data.max_seq_len``; 128 without training answers).
        batch_size: examples per generation batch.
        limit: evaluate at most this many test examples (0 = all): a seeded sample stratified by
            label (every label is covered when ``limit`` is at least the number of labels), or the
            first ``limit`` in file order with ``limit_order: source``.
        limit_order: ``stratified`` (default) or ``source``.
        seed: seed of the ``limit`` sample.
        few_shot_k: examples drawn from the training split for the ``few_shot`` system (distinct
            labels first, the shortest ones, so the prompt stays short).
        rag_k: retrieved passages for the ``rag`` systems.
        rag_documents: a folder of .txt/.md documents to retrieve from; default the training split.
        rag_max_chars: longest retrieved passage, in characters.
        label_decoding: classification with a generating system (base, few_shot, rag, an ``lm``-head
            fine-tuned model): ``constrained`` scores every label through a token trie, so the
            answer is always a label and comes with its probability; ``free`` generates greedily
            (answers outside the label set are possible and counted as hallucinations).
        prefix_cache: compute the prompt prefix shared by all examples (system prompt, few-shot turns)
            once and reuse its key/value cache; identical outputs, much less compute.
        reference_rows: test rows the base model's prompted systems (``base``, ``few_shot``, ``rag``)
            answer: a seeded sample, the same for each of them. Unset: 100 for generation and chat,
            where the base model's long answers (it rambles to ``max_new_tokens``) cost most of an
            evaluation and a reference point needs no more; every row for other tasks. 0 = every row.
            ``fine_tuned`` and ``classical`` always answer every test row; the report says how many
            rows each system answered, and each paired interval uses the rows both systems answered.
        bf16_autocast: ``auto`` (default) answers in bf16 on a CPU where a bf16 matmul is measured
            faster than fp32 in this process (AMX; the weights are cast to bf16 once,
            :func:`tailorlm.models.precision.for_inference`), else fp32; ``on``/``off`` force it. On
            CPUs without AMX bf16 is slower than fp32 (measured, see docs/evaluation.md), which the
            measurement catches.
        compliance: rules every answer must follow (see :class:`ComplianceSpec`).
        review: blind human review export settings (see :class:`ReviewSpec`).
        pricing: prices for the ROI section (see :class:`PricingSpec`).
    """

    systems: list[System] | None = None
    max_new_tokens: int = Field(default=0, ge=0)
    batch_size: int = Field(default=32, ge=1)
    limit: int = Field(default=0, ge=0)
    limit_order: Literal["stratified", "source"] = "stratified"
    seed: int = 0
    few_shot_k: int = Field(default=3, ge=0)
    rag_k: int = Field(default=2, ge=1)
    rag_documents: str | None = None
    rag_max_chars: int = Field(default=160, ge=20)
    label_decoding: Literal["constrained", "free"] = "constrained"
    prefix_cache: bool = True
    reference_rows: int | None = Field(default=None, ge=0,
                                       description="rows base/few_shot/rag answer; default: 100 for generation "
                                                   "and chat, all otherwise; 0 = all")
    bf16_autocast: Literal["auto", "on", "off"] = "auto"
    compliance: ComplianceSpec = ComplianceSpec()
    review: ReviewSpec = ReviewSpec()
    pricing: PricingSpec = PricingSpec()

    @field_validator("systems")
    @classmethod
    def _unique(cls, systems: list[str] | None) -> list[str] | None:
        if systems is None:
            return None
        if not systems:
            raise ValueError(f"list at least one system ({', '.join(ALL_SYSTEMS)})")
        if len(set(systems)) != len(systems):
            raise ValueError("a system is listed twice; list each once")
        return systems
