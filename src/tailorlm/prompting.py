"""One place that turns a dataset example into chat messages, shared by training and evaluation.

Training and evaluation must see the *same* prompt, or the fine-tuned model is scored on a format it
never learned. Every system (base, few-shot, RAG, fine-tuned) builds its messages here.

An example (one row of a dataset version) carries ``prompt`` (a JSON list of chat messages before the
target turn) and ``completion`` (the target assistant turn); see docs/architecture.md.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from .spec import ObjectiveSpec
from .spec.train import RETRIEVAL_TASKS

Message = dict[str, str]


def system_prompt(objective: ObjectiveSpec, labels: Sequence[str] = (), list_labels: bool = True) -> str:
    """The instruction; for classification it lists the allowed labels unless ``list_labels`` is off
    (a fine-tuned model that learned the labels does not need them in every prompt)."""
    text = objective.instruction.strip()
    labels = list(objective.labels or labels)
    if objective.task == "classification" and labels and list_labels:
        text += "\nLabels: " + ", ".join(labels)
    return text


def prompt_recipe(objective: ObjectiveSpec, labels: Sequence[str], list_labels: bool, tokenizer: Any = None,
                  retrieved_examples: int = 0, copy_bias: float = 0.0, repeat_limit: int = 0) -> dict:
    """How a trained version's prompts are built, stored with the version (``provenance.json``) so
    evaluation and serving rebuild exactly the training prompt.

    Keys: ``format`` (``chat_template``: the tokenizer's own template, assistant header appended),
    ``task``, ``system`` (the system turn), ``labels``, ``labels_in_prompt``, ``stop`` (EOS) and
    ``retrieved_examples`` (how many nearest training examples go before the message as prior turns;
    their rows are the version's ``retrieval_examples.jsonl``, see :mod:`tailorlm.rag.examples`) and
    ``copy_bias`` (the decoding bonus for continuing a span of the prompt, ``train.copy_bias``; 0 without
    retrieved examples) and ``repeat_limit`` (with ``copy_bias``: no answer repeats a run of this many
    tokens, one more than the longest run any training answer repeats, :func:`repeat_limit`; 0: none).
    """
    copies = bool(retrieved_examples) and objective.task in RETRIEVAL_TASKS
    return {
        "format": "chat_template",
        "task": objective.task,
        "system": system_prompt(objective, labels, list_labels),
        "labels": list(objective.labels or labels),
        "labels_in_prompt": bool(list_labels and objective.task == "classification"),
        "stop": [tokenizer.eos_token] if tokenizer is not None and tokenizer.eos_token else [],
        "retrieved_examples": int(retrieved_examples),
        # label answers are scored by constrained label scoring in evaluation, so no bias there or in serving
        "copy_bias": float(copy_bias) if copies else 0.0,
        "repeat_limit": int(repeat_limit) if copies and copy_bias else 0,
    }


def repeat_limit(tokenizer: Any, answers: Sequence[str]) -> int:
    """One more than the longest run of tokens any of ``answers`` repeats within itself (at least 8).

    A small version copying its retrieved example sometimes falls into a loop ("I'm sorry you're short
    on time. I'm sorry you're short on time. ...") until the token budget runs out; decoding with this
    limit (``SamplingParams.no_repeat``) cuts such a loop after a few turns, and never stops a repeat the
    training answers themselves make (an order number quoted twice). On the bench support workload the
    longest repeat is 18 tokens, so the limit is 19."""
    longest = 0
    for text in answers:
        ids = tokenizer.encode(str(text or ""), add_special_tokens=False)
        n = longest + 1  # only a longer repeat can raise the maximum
        while n < len(ids) and _repeats(ids, n):
            longest, n = n, n + 1
    return max(8, longest + 1)


def _repeats(ids: Sequence[int], n: int) -> bool:
    seen: set[tuple[int, ...]] = set()
    for i in range(len(ids) - n + 1):
        key = tuple(ids[i:i + n])
        if key in seen:
            return True
        seen.add(key)
    return False


def prompt_messages(example: dict[str, Any]) -> list[Message]:
    """The example's conversation before the target turn (decoded from its JSON column)."""
    raw = example.get("prompt")
    if isinstance(raw, str):
        return json.loads(raw)
    return list(raw or [])


def build_messages(
    example: dict[str, Any],
    objective: ObjectiveSpec,
    labels: Sequence[str] = (),
    shots: Sequence[dict[str, Any]] = (),
    context: Sequence[str] = (),
    list_labels: bool = True,
) -> list[Message]:
    """Messages for one example: system instruction, optional few-shot turns and retrieved context.

    Args:
        example: a dataset row (``prompt`` JSON, ``completion``).
        objective: the spec's objective (task type, instruction, labels).
        labels: the label set read from the data when the spec lists none.
        shots: training examples shown as prior user/assistant turns (few-shot prompting).
        context: retrieved passages, prepended to the system prompt (RAG).
        list_labels: list the label set in the system prompt (classification).
    """
    system = system_prompt(objective, labels, list_labels)
    if context:
        system += "\n\nRelevant examples and documents:\n" + "\n".join(f"- {c}" for c in context)
    msgs: list[Message] = [{"role": "system", "content": system}]
    for shot in shots:
        msgs.extend(m for m in prompt_messages(shot) if m["role"] != "system")
        msgs.append({"role": "assistant", "content": str(shot.get("completion", ""))})
    msgs.extend(m for m in prompt_messages(example) if m["role"] != "system")
    return msgs


def normalize_answer(text: str) -> str:
    """Normalize a generated answer for exact-match comparison (first line, trimmed, lower-case)."""
    text = (text or "").strip()
    first = text.splitlines()[0] if text else ""
    return first.strip().strip(".").strip().lower()
