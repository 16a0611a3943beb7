"""How each system answers: generation, label-constrained scoring, or the classifier head.

| model | task | answer |
| --- | --- | --- |
| a classifier-head version | classification | :func:`tailorlm.models.classifier_head.classify`: argmax label, its probability |
| a causal LM | classification, ``eval.label_decoding: constrained`` | :func:`tailorlm.constrained.score_labels` |
| a causal LM | otherwise | :func:`tailorlm.inference.generate` (greedy) |

Every path returns :class:`tailorlm.inference.Generation` objects (label answers are the
:class:`~tailorlm.constrained.LabelPrediction` subclass, which adds ``probability`` and ``probs``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from ..spec import TailorSpec
    from .baselines import SystemPlan

log = logging.getLogger(__name__)


def stored_recipe(run: Any) -> dict[str, Any]:
    """The version's stored ``prompt_recipe`` (``{}`` without a run)."""
    from ..models.trained import read_provenance

    return {} if run is None else dict(read_provenance(run.model_path).get("prompt_recipe") or {})


def recipe_cue_of(run: Any) -> str:
    """The cue the classifier version was trained with after each message (its stored recipe)."""
    from ..models.classifier_head import recipe_cue

    return recipe_cue(stored_recipe(run))


def answer_plan(loaded: Any, plan: SystemPlan, spec: TailorSpec, labels: Sequence[str], budget: int, progress: bool,
                run: Any = None) -> list:
    """The answers of one system (a :class:`~tailorlm.evaluate.baselines.SystemPlan`) with ``loaded``."""
    from ..constrained import score_labels, supports_constrained
    from ..inference import encode_chats, generate
    from ..models.classifier_head import classify, is_classifier, message_text, recipe_cue

    e = spec.eval
    if is_classifier(loaded.model):
        recipe = stored_recipe(run)  # read once: the input budget and cue the version was trained with
        return classify(loaded, [message_text(c) for c in plan.chats], batch_size=e.batch_size,
                        max_len=int(recipe.get("max_tokens", 256)), progress=progress, desc=f"eval {plan.name}",
                        cue=recipe_cue(recipe))
    prompts = encode_chats(loaded.tokenizer, plan.chats)
    if (spec.objective.task == "classification" and e.label_decoding == "constrained" and labels
            and supports_constrained(loaded.model)):
        return score_labels(loaded, prompts, labels, batch_size=e.batch_size, progress=progress,
                            desc=f"eval {plan.name}", prefix_cache=e.prefix_cache, autocast=e.bf16_autocast)
    recipe = stored_recipe(run) if plan.model == "fine_tuned" else {}
    return generate(loaded, prompts, max_new_tokens=budget, batch_size=e.batch_size, progress=progress,
                    desc=f"eval {plan.name}", prefix_cache=e.prefix_cache, autocast=e.bf16_autocast,
                    copy_bias=float(recipe.get("copy_bias") or 0.0), no_repeat=int(recipe.get("repeat_limit") or 0))


def run_head(run: Any) -> str:
    """``classifier`` or ``lm``: the head of the trained version (``lm`` when there is no run)."""
    from ..models.trained import read_provenance

    if run is None:
        return "lm"
    try:
        return read_provenance(run.model_path).get("head", "lm")
    except FileNotFoundError:
        return "lm"


# What fine_tuned_rag means for a classifier-head version: not offered. The head reads the message
# alone (it was trained without retrieved passages), so passages in its input would only shift it
# off its training distribution; the label list and retrieved examples belong to the lm head.
NOT_FOR_CLASSIFIER = {"fine_tuned_rag": "not offered for a classifier-head version: the head reads the message "
                                        "alone (train.head: lm for retrieval-augmented fine-tuned answers)"}
