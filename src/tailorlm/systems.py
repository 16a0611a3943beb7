"""The evaluated systems, as data: one row per system says which weights answer, which prompt it
sees and whether it retrieves. Evaluation plans prompts from it, the pipeline asks it whether the
train stage is needed, the registry and the report ask it which system is the candidate.

Adding a system is one row here (and its name in ``spec.evaluate.System``); a system that needs a
new kind of prompt or weights also adds that branch in :func:`tailorlm.evaluate.baselines.plan_systems`.
No heavy imports: the spec check reads this module.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_WEIGHTS, TRAINED_WEIGHTS, NO_WEIGHTS = "base", "fine_tuned", "none"
WEIGHTS = (BASE_WEIGHTS, TRAINED_WEIGHTS)  # the language-model weights evaluation loads, in this order
CANDIDATE = "fine_tuned"  # the system the acceptance criteria judge and promotion decides on


@dataclass(frozen=True)
class SystemDef:
    """One evaluated system.

    Attributes:
        name: the name in ``eval.systems`` and in every report.
        weights: ``base`` (``model.base``), ``fine_tuned`` (the trained version) or ``none`` (no LLM).
        prompt: ``zero_shot``, ``few_shot`` (``eval.few_shot_k`` training examples as prior turns) or
            ``none`` (answered without a prompt: the classical baseline).
        retrieval: retrieved passages (``eval.rag_k``) go into the system prompt.
        description: one line for the docs and the report.
    """

    name: str
    weights: str
    prompt: str = "zero_shot"
    retrieval: bool = False
    description: str = ""


SYSTEMS: dict[str, SystemDef] = {s.name: s for s in (
    SystemDef("base", BASE_WEIGHTS, description="the base model, zero-shot, with the training prompt format"),
    SystemDef("few_shot", BASE_WEIGHTS, "few_shot", description="the base model with training examples as prior turns"),
    SystemDef("classical", NO_WEIGHTS, "none", description="TF-IDF + logistic regression, or the nearest training answer"),
    SystemDef("rag", BASE_WEIGHTS, retrieval=True, description="the base model with retrieved passages"),
    SystemDef("fine_tuned", TRAINED_WEIGHTS, description="the trained version, with exactly its training prompt"),
    SystemDef("fine_tuned_rag", TRAINED_WEIGHTS, retrieval=True, description="the trained version with retrieved passages"),
)}


def system(name: str) -> SystemDef:
    """The row of ``name``; an unknown name is a ``KeyError`` naming the known ones."""
    try:
        return SYSTEMS[name]
    except KeyError:
        raise KeyError(f"unknown system {name!r}; the systems are {', '.join(SYSTEMS)}") from None


def with_weights(weights: str) -> tuple[str, ...]:
    """Names of the systems answering with ``weights``, in table order."""
    return tuple(s.name for s in SYSTEMS.values() if s.weights == weights)


def with_retrieval() -> tuple[str, ...]:
    """Names of the systems that retrieve passages, in table order."""
    return tuple(s.name for s in SYSTEMS.values() if s.retrieval)


def needs_trained_model(names) -> bool:
    """Whether any of ``names`` answers with the trained weights (so the train stage must run)."""
    return any(system(n).weights == TRAINED_WEIGHTS for n in names)
