"""The systems compared side by side, and the prompts each one sees.

| system | model | prompt |
| --- | --- | --- |
| ``base`` | base | instruction (+ labels) and the example (zero-shot) |
| ``few_shot`` | base | the same, plus ``eval.few_shot_k`` training examples as prior turns |
| ``classical`` | none (scikit-learn) | TF-IDF + logistic regression, or the nearest training answer (see :mod:`.classical`) |
| ``rag`` | base | the same as ``base``, plus ``eval.rag_k`` BM25-retrieved passages in the system prompt |
| ``fine_tuned`` | trained | exactly the training prompt (the label list only when the version's prompt recipe has it; its recipe's nearest training examples as prior turns, ``train.retrieved_examples``) |
| ``fine_tuned_rag`` | trained | ``fine_tuned`` plus retrieved passages |

Every prompt comes from :func:`tailorlm.prompting.build_messages`, the function training uses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from ..prompting import build_messages
from ..systems import BASE_WEIGHTS, NO_WEIGHTS, TRAINED_WEIGHTS, system, with_retrieval, with_weights

if TYPE_CHECKING:
    from ..spec import EvalSpec, ObjectiveSpec

# The system table (tailorlm.systems) grouped the ways the planner needs.
FINE_TUNED = with_weights(TRAINED_WEIGHTS)
USES_RAG = with_retrieval()
NO_LLM = with_weights(NO_WEIGHTS)  # answered without generation (scikit-learn)
BASE_PROMPTED = with_weights(BASE_WEIGHTS)  # the base model prompted (eval.reference_rows may sample their rows)


@dataclass
class SystemPlan:
    """What one system generates from.

    Attributes:
        name: the system name.
        model: ``base`` or ``fine_tuned``: which weights answer; ``classical`` for the scikit-learn
            system (no prompts: ``chats`` is empty).
        chats: chat messages per test example.
        contexts: retrieved passages per test example (empty without RAG), as ``(id, text)``.
        shots: ids of the few-shot examples (same for every test example).
    """

    name: str
    model: str
    chats: list[list[dict[str, str]]]
    contexts: list[list[tuple[str, str]]] = field(default_factory=list)
    shots: list[str] = field(default_factory=list)


def select_shots(train_rows: Sequence[dict[str, Any]], k: int, task: str, seed: int = 0) -> list[dict[str, Any]]:
    """``k`` short training examples for the few-shot prompt, the same for every test example.

    Classification: one example for each of ``k`` labels (labels chosen with ``seed``), the shortest
    of its label, so the shots cover different answers and the prompt stays short. Other tasks: ``k``
    examples drawn with ``seed`` from the shorter half of the training split.
    """
    if k <= 0 or not train_rows:
        return []

    def size(r: dict[str, Any]) -> int:
        return len(str(r.get("prompt", ""))) + len(str(r.get("completion", "")))

    rng = random.Random(seed)
    if task == "classification":
        by_label: dict[str, list[dict[str, Any]]] = {}
        for r in train_rows:
            by_label.setdefault(str(r.get("label") or r.get("completion")), []).append(r)
        labels = sorted(by_label)
        rng.shuffle(labels)
        return [min(by_label[lab], key=lambda r: (size(r), str(r.get("id")))) for lab in labels[:k]]
    pool = sorted(train_rows, key=lambda r: (size(r), str(r.get("id"))))[: max(k, len(train_rows) // 2)]
    return rng.sample(pool, min(k, len(pool)))


def plan_systems(systems: Sequence[str], test_rows: Sequence[dict[str, Any]], train_rows: Sequence[dict[str, Any]],
                 objective: ObjectiveSpec, labels: Sequence[str], eval_spec: EvalSpec, retriever: Any = None,
                 fine_tuned_lists_labels: bool = True,
                 fine_tuned_shots: Sequence[Sequence[dict[str, Any]]] | None = None) -> list[SystemPlan]:
    """Build each system's prompts for the test examples.

    Args:
        systems: system names in report order.
        test_rows / train_rows: dataset rows (dicts with the architecture's columns).
        objective: the spec's objective section.
        labels: the dataset's label set.
        eval_spec: the spec's ``eval`` section (``few_shot_k``...).
        retriever: a :class:`tailorlm.rag.Retriever` (needed for ``rag`` systems).
        fine_tuned_lists_labels: whether the fine-tuned model's training prompt listed the labels
            (its prompt recipe's ``labels_in_prompt``); base and few-shot prompts always do.
        fine_tuned_shots: per test example, the training examples the fine-tuned version's recipe puts
            before the message (its ``retrieved_examples``); None when it has none.
    """
    contexts: list[list[tuple[str, str]]] = []
    if any(s in USES_RAG for s in systems):
        if retriever is None:
            raise ValueError("RAG systems need a retriever")
        contexts = [[(p.id, p.text) for p in retriever.for_example(r)] for r in test_rows]
    wants_shots = any(system(s).prompt == "few_shot" for s in systems)
    shots = select_shots(train_rows, eval_spec.few_shot_k, objective.task) if wants_shots else []
    plans = []
    for name in systems:
        if name in NO_LLM:
            plans.append(SystemPlan(name=name, model=name, chats=[], contexts=[[] for _ in test_rows]))
            continue
        rag = name in USES_RAG
        use_shots = shots if system(name).prompt == "few_shot" else []
        own = fine_tuned_shots if name in FINE_TUNED and fine_tuned_shots is not None else None
        list_labels = fine_tuned_lists_labels if name in FINE_TUNED else True
        chats = [
            build_messages(row, objective, labels, shots=own[i] if own is not None else use_shots,
                           context=[text for _, text in contexts[i]] if rag else (), list_labels=list_labels)
            for i, row in enumerate(test_rows)
        ]
        plans.append(SystemPlan(
            name=name,
            model=system(name).weights,
            chats=chats,
            contexts=contexts if rag else [[] for _ in test_rows],
            shots=[str(s.get("id")) for s in use_shots],
        ))
    return plans
